//! Model instances registered in a session's identity map as they are made.
//!
//! `QueryResult.to_tracked_models` is the ORM's read path in one pass: each row becomes
//! an instance (as `to_models` makes it), goes into the session's identity map under
//! `(cls, pk)` (`pk` a tuple for a composite key) and gets its tracking state, an
//! instance of the session's state class made without `__init__` with the attributes
//! `obj`, `key`, `persistent` (True) and `snapshot` (a copy of the instance's
//! `__dict__`). Rows whose key is NULL or already in the identity map (from an earlier
//! query, or an earlier row of this one) are left to the caller: their positions come
//! back with the instances, which are then fresh and unregistered.
//!
//! The same registration serves two more callers: `QueryResult.track_models` registers
//! instances made earlier by `to_models` (a load the session deferred), with keys and
//! snapshots from their rows converted again, and `track_objects` registers objects
//! whose rows were just written (`insert_all`).

use super::hydrate::Plan;
use crate::py::convert::objects::{
    instance_dict, new_object, object_id, plain_new, set_attr, untracked, GcPause,
};
use crate::py::convert::slots::{state_slot_names, SlotWriter};
use crate::value::rows::Rows;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple, PyType};

/// Where and how one result's instances are registered.
pub struct Tracker<'py> {
    cls: Bound<'py, PyAny>,
    /// primary key attribute names
    key: Vec<Bound<'py, PyString>>,
    identity: Bound<'py, PyDict>,
    states: Bound<'py, PyDict>,
    state_type: Bound<'py, PyType>,
    /// the state class's slots `obj`, `key`, `persistent`, `snapshot`, when it has them
    slots: Option<SlotWriter<'py>>,
    no_args: Bound<'py, PyTuple>,
}

/// The primary key attribute names in `key` (a sequence of str, at least one).
pub fn key_names<'py>(key: &Bound<'py, PyAny>) -> PyResult<Vec<Bound<'py, PyString>>> {
    let key: Vec<Bound<'py, PyString>> = key
        .try_iter()?
        .map(|name| {
            name?
                .cast_into::<PyString>()
                .map_err(|_| PyTypeError::new_err("a key attribute name must be a str"))
        })
        .collect::<PyResult<_>>()?;
    if key.is_empty() {
        return Err(PyValueError::new_err("a key needs at least one attribute"));
    }
    Ok(key)
}

impl<'py> Tracker<'py> {
    pub fn new(
        cls: &Bound<'py, PyAny>,
        key: &Bound<'py, PyAny>,
        identity: &Bound<'py, PyAny>,
        states: &Bound<'py, PyAny>,
        state_type: &Bound<'py, PyAny>,
    ) -> PyResult<Tracker<'py>> {
        let py = cls.py();
        let key = key_names(key)?;
        let state_type = state_type
            .cast::<PyType>()
            .map_err(|_| PyTypeError::new_err("the state class must be a class"))?
            .clone();
        if !plain_new(&state_type) {
            return Err(PyTypeError::new_err(
                "the state class must be made by object.__new__ (no __new__ of its own)",
            ));
        }
        let as_dict = |what: &Bound<'py, PyAny>, name: &str| {
            what.cast::<PyDict>()
                .cloned()
                .map_err(|_| PyTypeError::new_err(format!("{name} must be a dict")))
        };
        let slots = SlotWriter::new(&state_type, &state_slot_names(py))?;
        Ok(Tracker {
            cls: cls.clone(),
            key,
            identity: as_dict(identity, "identity")?,
            states: as_dict(states, "states")?,
            state_type,
            slots,
            no_args: PyTuple::empty(py),
        })
    }

    /// `(cls, pk)` from the instance's attributes, or None while a key part is None or
    /// missing.
    fn identity_key(&self, dict: &Bound<'py, PyDict>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let py = dict.py();
        let value = |name: &Bound<'py, PyString>| -> PyResult<Option<Bound<'py, PyAny>>> {
            Ok(dict.get_item(name)?.filter(|v| !v.is_none()))
        };
        let pk = if let [name] = &self.key[..] {
            match value(name)? {
                Some(v) => v,
                None => return Ok(None),
            }
        } else {
            let mut parts = Vec::with_capacity(self.key.len());
            for name in &self.key {
                match value(name)? {
                    Some(v) => parts.push(v),
                    None => return Ok(None),
                }
            }
            untracked(PyTuple::new(py, parts)?).into_any()
        };
        // An identity key holds the model class and column values: nothing in it leads
        // back to the key, so it is never part of a cycle and the collector need not walk
        // one key per loaded row (the class alone would keep CPython from untracking it).
        Ok(Some(untracked(PyTuple::new(py, [self.cls.clone(), pk])?)))
    }

    /// Register `obj` (freshly made) with a copy of its `__dict__` as its snapshot, and
    /// return its key; None when its key is NULL or already mapped. On an error nothing
    /// stays registered.
    fn register(&self, obj: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let dict = instance_dict(obj)?;
        self.register_as(obj, &dict, || Ok(dict.copy()?.into_any()))
    }

    /// Register `obj` under the key read from `values` (its column values as loaded),
    /// with `snapshot()` as its snapshot; as [`Tracker::register`] otherwise.
    fn register_as(
        &self,
        obj: &Bound<'py, PyAny>,
        values: &Bound<'py, PyDict>,
        snapshot: impl FnOnce() -> PyResult<Bound<'py, PyAny>>,
    ) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let py = obj.py();
        let Some(key) = self.identity_key(values)? else {
            return Ok(None);
        };
        // SAFETY: live dict, key and value; `PyDict_SetDefault` returns a borrowed
        // reference to the value now under `key` (the existing one, or `obj` inserted),
        // or NULL with an exception set (an unhashable key).
        let mapped =
            unsafe { ffi::PyDict_SetDefault(self.identity.as_ptr(), key.as_ptr(), obj.as_ptr()) };
        if mapped.is_null() {
            return Err(PyErr::fetch(py));
        }
        if mapped != obj.as_ptr() {
            return Ok(None);
        }
        match snapshot().and_then(|snapshot| self.add_state(obj, &key, &snapshot)) {
            Ok(()) => Ok(Some(key)),
            Err(err) => {
                self.identity.del_item(&key)?;
                Err(err)
            }
        }
    }

    /// `states[id(obj)]`: a new state of `obj` under `key` with `snapshot`.
    fn add_state(
        &self,
        obj: &Bound<'py, PyAny>,
        key: &Bound<'py, PyTuple>,
        snapshot: &Bound<'py, PyAny>,
    ) -> PyResult<()> {
        let py = obj.py();
        let state = new_object(&self.state_type, &self.no_args)?;
        let persistent = true.into_pyobject(py)?.to_owned().into_any();
        if let Some(slots) = &self.slots {
            slots.fill(&state, &[obj, key.as_any(), &persistent, snapshot])?;
        } else {
            set_attr(&state, intern!(py, "obj"), obj)?;
            set_attr(&state, intern!(py, "key"), key.as_any())?;
            set_attr(&state, intern!(py, "persistent"), &persistent)?;
            set_attr(&state, intern!(py, "snapshot"), snapshot)?;
        }
        self.states.set_item(object_id(obj)?, state)
    }

    /// Registers `objs` in order through `register(position, obj)`, which returns the
    /// key it registered the object under, or None to leave it to the caller. Returns
    /// the positions left. On an error every registration made is taken back, so the
    /// session's maps are as they were.
    fn register_all(
        &self,
        objs: impl IntoIterator<Item = Bound<'py, PyAny>>,
        mut register: impl FnMut(usize, &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyTuple>>>,
    ) -> PyResult<Vec<usize>> {
        let mut left = Vec::new();
        let mut done = Vec::new();
        for (i, obj) in objs.into_iter().enumerate() {
            match register(i, &obj) {
                Ok(Some(key)) => done.push((key, obj)),
                Ok(None) => left.push(i),
                Err(err) => {
                    self.forget(&done);
                    return Err(err);
                }
            }
        }
        Ok(left)
    }

    /// Take back registrations (key, instance).
    fn forget(&self, done: &[(Bound<'py, PyTuple>, Bound<'py, PyAny>)]) {
        for (key, obj) in done {
            // Best effort while another error is on its way out: a failure here has
            // nothing better to do than leave the entry.
            let _ = self.identity.del_item(key);
            if let Ok(id) = object_id(obj) {
                let _ = self.states.del_item(id);
            }
        }
    }
}

/// One instance per row, registered by `tracker` where it can be; the positions it
/// left to the caller. Every row becomes an instance before the first is registered,
/// and a failed registration takes back the earlier ones: on an error (a converter
/// refusing a value, an unhashable key) the session's maps are as they were.
pub fn tracked_models<'py>(
    plan: &Plan<'py>,
    py: Python<'py>,
    rows: &Rows,
    tracker: &Tracker<'py>,
) -> PyResult<(Bound<'py, PyList>, Vec<usize>)> {
    let maker = plan.maker(&tracker.cls)?;
    let _gc = GcPause::new(py, rows.len());
    let objs = rows
        .iter()
        .map(|row| plan.model(py, rows, row, &maker))
        .collect::<PyResult<Vec<_>>>()?;
    let left = tracker.register_all(objs.iter().cloned(), |_, obj| tracker.register(obj))?;
    Ok((PyList::new(py, objs)?, left))
}

/// Registers `objs`, made earlier from `rows` (one per row, in order) and perhaps
/// changed since, as `tracked_models` would have registered them then: each row is
/// converted again into a throwaway instance whose `__dict__` (the values as loaded)
/// gives the key and becomes the snapshot. Returns the positions it did not register (a
/// NULL key, or a key already mapped); on an error the session's maps are as they were.
pub fn track_loaded<'py>(
    plan: &Plan<'py>,
    py: Python<'py>,
    rows: &Rows,
    objs: &Bound<'py, PyList>,
    tracker: &Tracker<'py>,
) -> PyResult<Vec<usize>> {
    if objs.len() != rows.len() {
        return Err(PyValueError::new_err(format!(
            "{} objects for {} rows",
            objs.len(),
            rows.len()
        )));
    }
    let maker = plan.maker(&tracker.cls)?;
    let _gc = GcPause::new(py, rows.len());
    tracker.register_all(objs.iter(), |r, obj| {
        let twin = plan.model(py, rows, rows.row(r), &maker)?;
        let values = instance_dict(&twin)?;
        tracker.register_as(obj, &values, || Ok(values.clone().into_any()))
    })
}

/// Registers `objs`, rows just written (each `__dict__` holds what the row has), in a
/// session as `to_tracked_models` registers loaded rows: identity map, state, and a copy
/// of the `__dict__` as the snapshot. With `snapshots` (one dict per object, the values
/// as written, taken earlier), the key is read from each object's snapshot and the dict
/// itself becomes the snapshot: an insert whose registration the session deferred.
/// `session` is `(identity, states, state_cls)` and `key` the primary key attribute
/// names. Returns the positions it left to the caller: an object the session has a
/// state for already, a NULL key, or a key already mapped. On an error (an unhashable
/// key) the session's maps are as they were.
#[pyfunction]
#[pyo3(signature = (objs, cls, key, session, snapshots=None))]
pub fn track_objects<'py>(
    objs: &Bound<'py, PyList>,
    cls: &Bound<'py, PyAny>,
    key: &Bound<'py, PyAny>,
    session: (Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>),
    snapshots: Option<&Bound<'py, PyList>>,
) -> PyResult<Vec<usize>> {
    let py = objs.py();
    let (identity, states, state_cls) = session;
    let tracker = Tracker::new(cls, key, &identity, &states, &state_cls)?;
    if let Some(snapshots) = snapshots {
        if snapshots.len() != objs.len() {
            return Err(PyValueError::new_err(format!(
                "{} snapshots for {} objects",
                snapshots.len(),
                objs.len()
            )));
        }
    }
    let _gc = GcPause::new(py, objs.len());
    tracker.register_all(objs.iter(), |i, obj| {
        if tracker.states.contains(object_id(obj)?)? {
            return Ok(None); // tracked already: attach() is the caller's
        }
        match snapshots {
            None => tracker.register(obj),
            Some(snapshots) => {
                let snapshot = snapshots
                    .get_item(i)?
                    .cast_into::<PyDict>()
                    .map_err(|_| PyTypeError::new_err("a snapshot must be a dict"))?;
                tracker.register_as(obj, &snapshot, || Ok(snapshot.clone().into_any()))
            }
        }
    })
}

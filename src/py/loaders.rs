//! Helpers of the ORM's relationship loaders (`ormkit.orm.strategies`): the per-object
//! steps of a selectin load, grouping the loaded objects by their link attribute and
//! setting the reverse side on them, done without a Python bytecode per object.

use super::convert::objects::{instance_dict, instance_value, object_id, set_attr};
use super::convert::slots::{StateSlots, STATE_PERSISTENT, STATE_SNAPSHOT};
use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

/// Hashes object addresses (the only keys it sees) with one multiplication: they are
/// distinct, aligned and not chosen by anyone, so SipHash's protection buys nothing.
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A set of object addresses.
type Addresses = HashSet<usize, BuildHasherDefault<AddressHasher>>;

/// Adds each object of `objs` (counted once if it appears again) to the list
/// `found[(value,)]`, where `value` is its attribute `name` (read by [`instance_value`]),
/// keeping their order; objects whose value is None, missing, or not a key of `found`
/// are left out. `found`'s keys are 1-tuples (the loaders' keys of one column); other
/// keys are ignored.
#[pyfunction]
pub fn collect_by_attribute<'py>(
    objs: &Bound<'py, PyAny>,
    name: &Bound<'py, PyString>,
    found: &Bound<'py, PyDict>,
) -> PyResult<()> {
    let py = objs.py();
    // value → its list in `found`, so each object costs one lookup and no tuple
    let buckets = PyDict::new(py);
    for (key, bucket) in found.iter() {
        if let Ok(key) = key.cast::<PyTuple>() {
            if key.len() == 1 {
                buckets.set_item(key.get_item(0)?, bucket)?;
            }
        }
    }
    let mut seen = Addresses::with_capacity_and_hasher(objs.len().unwrap_or(0), Default::default());
    for obj in objs.try_iter()? {
        let obj = obj?;
        if !seen.insert(obj.as_ptr() as usize) {
            continue;
        }
        let Some(value) = instance_value(&obj, name)? else {
            continue;
        };
        if value.is_none() {
            continue;
        }
        if let Some(bucket) = buckets.get_item(&value)? {
            bucket.cast_into::<PyList>()?.append(&obj)?;
        }
    }
    Ok(())
}

/// The loaded side of a selectin load whose objects the session has not registered yet
/// (`strategies._assign_deferred`): for each `(parent, children)` of `pairs`, `parent`
/// gets `children` (a list) as its attribute `key` (with `uselist` false, the first
/// child or None), stored as `object.__setattr__` stores it; with `back`, each child
/// gets `parent` as its attribute `back` the same way. Returns the `(parent, snapshot
/// value)` of every pair (a collection's snapshot is a copy of its list), and whether
/// any child was given its parent.
#[pyfunction]
pub fn link_fresh<'py>(
    pairs: &Bound<'py, PyAny>,
    key: &Bound<'py, PyString>,
    back: Option<&Bound<'py, PyString>>,
    uselist: bool,
) -> PyResult<(Bound<'py, PyList>, bool)> {
    let py = pairs.py();
    let loaded = PyList::empty(py);
    let mut linked = false;
    each_pair(pairs, |parent, children| {
        let children = children
            .cast::<PyList>()
            .map_err(|_| PyTypeError::new_err("the children of a pair must be a list"))?;
        let value = if uselist {
            children.clone().into_any()
        } else if children.is_empty() {
            py.None().into_bound(py)
        } else {
            children.get_item(0)?
        };
        set_attr(parent, key, &value)?;
        if let Some(back) = back {
            for child in children.iter() {
                set_attr(&child, back, parent)?;
                linked = true;
            }
        }
        let snapshot = if uselist {
            // SAFETY: `children` is a live list; `PyList_GetSlice` returns a new list (a
            // shallow copy of all of it) or NULL with an exception set.
            unsafe {
                Bound::from_owned_ptr_or_err(
                    py,
                    ffi::PyList_GetSlice(children.as_ptr(), 0, ffi::PY_SSIZE_T_MAX),
                )
            }?
        } else {
            value
        };
        loaded.append(PyTuple::new(py, [parent.clone(), snapshot])?)
    })?;
    Ok((loaded, linked))
}

/// For each `(parent, children)` of `pairs`, in order: every child without the
/// attribute `back` gets `parent` there, and, when the session tracks the child as a
/// persistent row (`states[id(child)].persistent`), in its snapshot too (the reverse
/// side of a loaded relationship, loaded along with it). Fresh children of a load the
/// session has not registered yet get theirs from [`link_fresh`].
#[pyfunction]
pub fn set_reverse<'py>(
    pairs: &Bound<'py, PyAny>,
    back: &Bound<'py, PyString>,
    states: &Bound<'py, PyDict>,
) -> PyResult<()> {
    let mut slots = StateSlots::new(pairs.py());
    each_child(pairs, |parent, child| {
        let dict = instance_dict(child)?;
        if dict.contains(back)? {
            return Ok(());
        }
        dict.set_item(back, parent)?;
        let Some(state) = states.get_item(object_id(child)?)? else {
            return Ok(());
        };
        if slots.get(&state, STATE_PERSISTENT)?.is_truthy()? {
            slots.get(&state, STATE_SNAPSHOT)?.set_item(back, parent)?;
        }
        Ok(())
    })
}

/// Calls `f(parent, children)` for each `(parent, children)` tuple of `pairs`, in order.
fn each_pair<'py>(
    pairs: &Bound<'py, PyAny>,
    mut f: impl FnMut(&Bound<'py, PyAny>, &Bound<'py, PyAny>) -> PyResult<()>,
) -> PyResult<()> {
    for pair in pairs.try_iter()? {
        let pair = pair?;
        let pair = pair
            .cast::<PyTuple>()
            .map_err(|_| PyTypeError::new_err("pairs must be (parent, children) tuples"))?;
        f(&pair.get_item(0)?, &pair.get_item(1)?)?;
    }
    Ok(())
}

/// Calls `f(parent, child)` for each child of each `(parent, children)` tuple of
/// `pairs`, in order.
fn each_child<'py>(
    pairs: &Bound<'py, PyAny>,
    mut f: impl FnMut(&Bound<'py, PyAny>, &Bound<'py, PyAny>) -> PyResult<()>,
) -> PyResult<()> {
    each_pair(pairs, |parent, children| {
        for child in children.try_iter()? {
            f(parent, &child?)?;
        }
        Ok(())
    })
}

//! Helpers of the ORM's relationship loaders (`ormkit.orm.strategies`): the per-object
//! steps of a selectin load, grouping the loaded objects by their link attribute and
//! setting the reverse side on them, done without a Python bytecode per object.

use super::convert::objects::{instance_dict, instance_value, object_id, set_attr};
use super::convert::slots::{StateSlots, STATE_PERSISTENT, STATE_SNAPSHOT};
use pyo3::exceptions::PyTypeError;
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

/// The objects of `objs` grouped by the value of their attribute `name` (read by
/// [`instance_value`]): value → list of objects in order of first appearance. An object that
/// appears again (the same object) is counted once; objects whose value is None or
/// missing are left out.
#[pyfunction]
pub fn group_by_attribute<'py>(
    objs: &Bound<'py, PyAny>,
    name: &Bound<'py, PyString>,
) -> PyResult<Bound<'py, PyDict>> {
    let py = objs.py();
    let groups = PyDict::new(py);
    let mut seen = Addresses::default();
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
        match groups.get_item(&value)? {
            Some(group) => group.cast_into::<PyList>()?.append(&obj)?,
            None => groups.set_item(&value, PyList::new(py, [&obj])?)?,
        }
    }
    Ok(groups)
}

/// For each `(parent, children)` of `pairs`, in order: every child without the
/// attribute `back` gets `parent` there, and, when the session tracks the child as a
/// persistent row (`states[id(child)].persistent`), in its snapshot too (the reverse
/// side of a loaded relationship, loaded along with it). With `states` None, the
/// children are fresh from a load the session has not registered yet, none holding
/// `back`: each gets `parent` as `object.__setattr__` sets it, kept inline with its
/// other attributes.
#[pyfunction]
pub fn set_reverse<'py>(
    pairs: &Bound<'py, PyAny>,
    back: &Bound<'py, PyString>,
    states: Option<&Bound<'py, PyDict>>,
) -> PyResult<()> {
    let Some(states) = states else {
        return each_child(pairs, |parent, child| set_attr(child, back, parent));
    };
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

/// Calls `f(parent, child)` for each child of each `(parent, children)` tuple of
/// `pairs`, in order.
fn each_child<'py>(
    pairs: &Bound<'py, PyAny>,
    mut f: impl FnMut(&Bound<'py, PyAny>, &Bound<'py, PyAny>) -> PyResult<()>,
) -> PyResult<()> {
    for pair in pairs.try_iter()? {
        let pair = pair?;
        let pair = pair
            .cast::<PyTuple>()
            .map_err(|_| PyTypeError::new_err("pairs must be (parent, children) tuples"))?;
        let parent = pair.get_item(0)?;
        for child in pair.get_item(1)?.try_iter()? {
            f(&parent, &child?)?;
        }
    }
    Ok(())
}

//! `__setattr__` of a model whose relationships keep their `back_populates` side in step
//! (`ormkit.orm.backrefs.install_setattr`): assigning one of those relationships calls
//! `backrefs.assign(obj, rel, value)`; any other attribute is stored as
//! `object.__setattr__` stores it.
//!
//! `Base.__setattr__` is a method descriptor made by [`model_setattr`]: the interpreter
//! calls it as it calls a method written in C, with no Python frame. It finds the
//! relationships to hook in the class's `_ormkit_setattr = (hooks, assign)`, `hooks`
//! mapping each key to its info. A `__setattr__` written in Python made every column
//! write of these models a Python call (126 against 22 ns, `benchmarks/NOTES.md`,
//! session 12). A model without hooks gets `object.__setattr__` as its own, and so the
//! interpreter's C slot; a model that defines `__setattr__` itself reaches this one
//! through `super().__setattr__`.
//!
//! The classes' `tp_setattro` slot stays the interpreter's generic one (which finds the
//! descriptor): a slot of our own would be ~6 ns faster, but then `object.__setattr__`
//! refuses the instances ("can't apply this __setattr__"), and loading and user code
//! rely on it to store past the hooks.

use super::convert::objects::class_attribute;
use super::model_init::guarded;
use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple, PyType};
use std::os::raw::c_char;

/// What `obj`'s class keeps under `_ormkit_setattr` (a class attribute, read without
/// calling descriptors): the hooks and `assign`; None when the class has none of that
/// shape (then every name is stored plainly).
fn hooks_of<'py>(
    obj: &Bound<'py, PyAny>,
) -> PyResult<Option<(Bound<'py, PyDict>, Bound<'py, PyAny>)>> {
    let found = class_attribute(&obj.get_type(), intern!(obj.py(), "_ormkit_setattr"))?;
    let Some(Ok(pair)) = found.map(|f| f.cast_into::<PyTuple>()) else {
        return Ok(None);
    };
    let [hooks, assign] = pair.as_slice() else {
        return Ok(None);
    };
    Ok(hooks
        .cast::<PyDict>()
        .ok()
        .map(|h| (h.clone(), assign.clone())))
}

/// `obj.name = value` for a model: a hooked relationship goes to `assign`, anything else
/// to `object.__setattr__`'s store.
fn set<'py>(
    obj: &Bound<'py, PyAny>,
    name: &Bound<'py, PyAny>,
    value: &Bound<'py, PyAny>,
) -> PyResult<()> {
    let Ok(name) = name.cast::<PyString>() else {
        let kind = name.get_type().name()?;
        return Err(PyTypeError::new_err(format!(
            "attribute name must be string, not '{kind}'"
        )));
    };
    if let Some((hooks, assign)) = hooks_of(obj)? {
        if let Some(rel) = hooks.get_item(name)? {
            assign.call1((obj, rel, value))?;
            return Ok(());
        }
    }
    // SAFETY: three live objects; -1 with an exception set on failure.
    if unsafe { ffi::PyObject_GenericSetAttr(obj.as_ptr(), name.as_ptr(), value.as_ptr()) } < 0 {
        return Err(PyErr::fetch(obj.py()));
    }
    Ok(())
}

/// `__setattr__(self, name, value)`: the descriptor's C function.
unsafe extern "C" fn model_setattr_c(
    slf: *mut ffi::PyObject,
    args: *mut *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    // SAFETY: the interpreter calls a method with the GIL held.
    let py = unsafe { Python::assume_attached() };
    guarded(py, "a model's __setattr__", || {
        if nargs != 2 {
            return Err(PyTypeError::new_err(format!(
                "__setattr__ expected 2 arguments, got {nargs}"
            )));
        }
        // SAFETY: a `METH_FASTCALL` call of a method descriptor: a live `slf` (checked by
        // the descriptor to be an instance of its class) and `nargs` (2) live arguments
        // at `args`, all borrowed for the call.
        let (obj, name, value) = unsafe {
            (
                Bound::from_borrowed_ptr(py, slf),
                Bound::from_borrowed_ptr(py, *args),
                Bound::from_borrowed_ptr(py, *args.add(1)),
            )
        };
        set(&obj, &name, &value)
    })
    .map_or(std::ptr::null_mut(), |()| py.None().into_ptr())
}

const DOC: &[u8] = b"__setattr__($self, name, value, /)\n--\n\n\
Set an attribute; a relationship with back_populates also updates the other side.\0";

/// The method descriptor `__setattr__` of `cls` (`Base`; see the module documentation).
#[pyfunction]
pub fn model_setattr<'py>(cls: &Bound<'py, PyType>) -> PyResult<Bound<'py, PyAny>> {
    let def = Box::leak(Box::new(ffi::PyMethodDef {
        ml_name: c"__setattr__".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunctionFast: model_setattr_c,
        },
        ml_flags: ffi::METH_FASTCALL,
        ml_doc: DOC.as_ptr().cast::<c_char>(),
    }));
    // SAFETY: `cls` is a live type; `def` lives for the rest of the process (leaked: one
    // per model class with such relationships). A new reference or NULL with an exception.
    unsafe {
        Bound::from_owned_ptr_or_err(
            cls.py(),
            ffi::PyDescr_NewMethod(cls.as_type_ptr(), std::ptr::from_mut(def)),
        )
    }
}

//! Instances of Python classes made without calling the class (no `__init__`).
//!
//! For a class whose `__new__` is `object.__new__`, the instance is allocated with the
//! type's own `tp_alloc` — what `object.__new__` does, minus an argument check, an
//! abstract-class check (done here once per class instead) and, on 3.11/3.12, the
//! preparation of an attribute table we would throw away — and the row's dict becomes
//! its `__dict__` in one store. `benchmarks/hydration.py` (NOTES.md, "Hydration in
//! Rust") measured the difference against `cls.__new__(cls)` + `obj.__dict__[k] = v`.
//! Any other class goes through `cls.__new__(cls)`.

use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyType};

/// How instances of one class are made.
pub enum Maker<'py> {
    /// `__new__` is `object.__new__` and instances have a `__dict__`.
    Alloc(Bound<'py, PyType>),
    /// `cls.__new__(cls)`, then the values go into its `__dict__`.
    New {
        cls: Bound<'py, PyAny>,
        new: Bound<'py, PyAny>,
    },
}

/// Whether instances of `ty` can be allocated directly: `__new__` is `object.__new__`,
/// the class is not abstract and it has a `tp_alloc`.
pub fn plain_new(ty: &Bound<'_, PyType>) -> bool {
    let t = ty.as_type_ptr();
    // SAFETY: `t` is a live type object (we hold a reference to it) and the extension
    // is built for the full C API, where `PyTypeObject`'s fields are readable;
    // `PyBaseObject_Type` is a static of the interpreter, only its address is taken.
    unsafe {
        let object_new = (*std::ptr::addr_of!(ffi::PyBaseObject_Type)).tp_new;
        (*t).tp_new.map(|f| f as usize) == object_new.map(|f| f as usize)
            && (*t).tp_alloc.is_some()
            && (*t).tp_flags & ffi::Py_TPFLAGS_IS_ABSTRACT == 0
    }
}

/// Whether instances of `ty` have a `__dict__`.
fn has_dict(ty: &Bound<'_, PyType>) -> bool {
    // SAFETY: as in `plain_new`, reading a field of a live type object.
    unsafe { (*ty.as_type_ptr()).tp_dictoffset != 0 }
}

/// A new, empty instance of `ty`, which [`plain_new`] accepted.
pub fn alloc<'py>(ty: &Bound<'py, PyType>) -> PyResult<Bound<'py, PyAny>> {
    let t = ty.as_type_ptr();
    // SAFETY: `t` is a live type object whose `tp_alloc` is set (checked by `plain_new`,
    // and a type's slots do not change after it is ready); we call it as
    // `object.__new__` does, with no items. It returns a new reference, or NULL with
    // an exception set, which `from_owned_ptr_or_err` turns into an error.
    unsafe {
        let Some(tp_alloc) = (*t).tp_alloc else {
            return Err(PyTypeError::new_err("the class cannot be allocated"));
        };
        Bound::from_owned_ptr_or_err(ty.py(), tp_alloc(t, 0))
    }
}

impl<'py> Maker<'py> {
    pub fn new(cls: &Bound<'py, PyAny>) -> PyResult<Maker<'py>> {
        if let Ok(ty) = cls.cast::<PyType>() {
            if plain_new(ty) && has_dict(ty) {
                return Ok(Maker::Alloc(ty.clone()));
            }
        }
        Ok(Maker::New {
            cls: cls.clone(),
            new: cls.getattr(intern!(cls.py(), "__new__"))?,
        })
    }

    /// A new instance whose attributes are the items of `dict` (which it may keep).
    #[inline]
    pub fn make(&self, dict: Bound<'py, PyDict>) -> PyResult<Bound<'py, PyAny>> {
        match self {
            Maker::Alloc(ty) => {
                let obj = alloc(ty)?;
                // SAFETY: both are live objects; `PyObject_GenericSetDict` is
                // `obj.__dict__ = dict` (it checks that `dict` is a dict and takes its
                // own reference), returning -1 with an exception set on failure.
                let rc = unsafe {
                    ffi::PyObject_GenericSetDict(obj.as_ptr(), dict.as_ptr(), std::ptr::null_mut())
                };
                if rc < 0 {
                    return Err(PyErr::fetch(obj.py()));
                }
                Ok(obj)
            }
            Maker::New { cls, new } => {
                let obj = new.call1((cls,))?;
                let own = obj.getattr(intern!(obj.py(), "__dict__"))?;
                own.cast::<PyDict>()?.update(dict.as_mapping())?;
                Ok(obj)
            }
        }
    }
}

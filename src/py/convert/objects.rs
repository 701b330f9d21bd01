//! Instances of Python classes made without calling the class (no `__init__`).
//!
//! For a class whose `__new__` is `object.__new__` (checked once per call), instances are
//! made by `object.__new__` itself, called through its C slot, and each column value is
//! stored with `object.__setattr__` (`PyObject_GenericSetAttr`): on CPython 3.11+ that
//! writes into the instance's own attribute table, shared-key and dict-free, which is
//! both the cheapest way to fill an instance and the most compact result. That store is
//! the same as `obj.__dict__[name] = value` unless the class has a data descriptor (a
//! property, a slot) under that name; when one of the names has one, the row's dict is
//! set as `__dict__` instead. Any other class goes through `cls.__new__(cls)` and its
//! `__dict__`. `benchmarks/NOTES.md` ("Hydration in Rust") has the figures that pick
//! these paths.

use pyo3::exceptions::{PyAttributeError, PyTypeError};
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple, PyType};

/// How instances of one class are made.
pub enum Maker<'py> {
    /// `object.__new__`, then one `object.__setattr__` per attribute.
    Attrs {
        cls: Bound<'py, PyType>,
        no_args: Bound<'py, PyTuple>,
    },
    /// `object.__new__`, then the row's dict becomes `__dict__`.
    Dict {
        cls: Bound<'py, PyType>,
        no_args: Bound<'py, PyTuple>,
    },
    /// `cls.__new__(cls)`, then the values go into its `__dict__`.
    New {
        cls: Bound<'py, PyAny>,
        new: Bound<'py, PyAny>,
    },
}

/// `object.__new__`'s C function.
fn object_new() -> Option<ffi::newfunc> {
    // SAFETY: `PyBaseObject_Type` is a static of the interpreter, initialised before any
    // extension is imported; we read one function pointer from it.
    unsafe { (*std::ptr::addr_of!(ffi::PyBaseObject_Type)).tp_new }
}

/// Whether `ty.__new__` is `object.__new__`.
pub fn plain_new(ty: &Bound<'_, PyType>) -> bool {
    // SAFETY: `ty` is a live type object (we hold a reference) and the extension is built
    // for the full C API, where `PyTypeObject`'s fields are readable.
    let tp_new = unsafe { (*ty.as_type_ptr()).tp_new };
    tp_new.is_some() && tp_new.map(|f| f as usize) == object_new().map(|f| f as usize)
}

/// Whether instances of `ty` have a `__dict__`.
fn has_dict(ty: &Bound<'_, PyType>) -> bool {
    // SAFETY: as in `plain_new`, reading a field of a live type object.
    unsafe { (*ty.as_type_ptr()).tp_dictoffset != 0 }
}

/// Whether `name` is a data descriptor (a property, a slot, `__class__`) on `ty` or a
/// base: then `object.__setattr__` would call it instead of storing into the instance.
/// The lookup `object.__setattr__` makes: the class attribute decides, by its type's
/// `__set__` slot.
fn data_descriptor(ty: &Bound<'_, PyType>, name: &Bound<'_, PyString>) -> PyResult<bool> {
    // SAFETY: reading a field of a live type.
    if unsafe { (*ty.as_type_ptr()).tp_mro }.is_null() {
        return Ok(true); // not a ready type: assume the worst
    }
    Ok(match class_attribute(ty, name)? {
        // SAFETY: reading a slot of the live type of a live object.
        Some(found) => unsafe { (*found.get_type().as_type_ptr()).tp_descr_set }.is_some(),
        None => false,
    })
}

/// `ty`'s class attribute `name` as the interpreter finds it, without its cache and
/// without calling descriptors: along `__mro__`, what the first type whose namespace
/// has the name holds there; None when none has it (or `ty` is not ready).
pub fn class_attribute<'py>(
    ty: &Bound<'py, PyType>,
    name: &Bound<'py, PyString>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let py = ty.py();
    // SAFETY: `tp_mro` of a ready type is a tuple the type owns (we hold the type), read
    // as a borrowed reference; NULL is handled.
    let mro = unsafe { (*ty.as_type_ptr()).tp_mro };
    if mro.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL, owned by `ty` which outlives this borrow.
    let mro = unsafe { Borrowed::from_ptr(py, mro) };
    for base in mro.cast::<PyTuple>()?.iter() {
        let base = base.cast::<PyType>()?;
        // SAFETY: reading a field of a live type; NULL (static builtin types on 3.12+
        // keep their namespace elsewhere) is handled.
        let dict = unsafe { (*base.as_type_ptr()).tp_dict };
        let found = if dict.is_null() {
            let namespace = base.getattr(intern!(py, "__dict__"))?;
            Some(namespace.call_method1(intern!(py, "get"), (name,))?).filter(|f| !f.is_none())
        } else {
            // SAFETY: non-NULL `tp_dict` is the type's namespace dict, owned by the type.
            unsafe { Borrowed::from_ptr(py, dict) }
                .cast::<PyDict>()?
                .get_item(name)?
        };
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

/// `object.__new__(ty)` for a type [`plain_new`] accepted.
pub fn new_object<'py>(
    ty: &Bound<'py, PyType>,
    no_args: &Bound<'py, PyTuple>,
) -> PyResult<Bound<'py, PyAny>> {
    let Some(new) = object_new() else {
        return Err(PyTypeError::new_err("object.__new__ is missing"));
    };
    // SAFETY: `new` is `object.__new__`'s C function, called as the interpreter calls a
    // `tp_new` slot: a live type whose `__new__` it is, an empty argument tuple and no
    // keywords. It returns a new reference, or NULL with an exception set (an abstract
    // class), which `from_owned_ptr_or_err` turns into an error.
    unsafe {
        Bound::from_owned_ptr_or_err(
            ty.py(),
            new(ty.as_type_ptr(), no_args.as_ptr(), std::ptr::null_mut()),
        )
    }
}

/// `obj.__dict__` (made on first use for an instance that keeps its attributes inline).
pub fn instance_dict<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    // SAFETY: `obj` is a live object; `PyObject_GenericGetDict` returns a new reference
    // to its `__dict__` or NULL with an exception set (an instance without one).
    let dict = unsafe {
        Bound::from_owned_ptr_or_err(
            obj.py(),
            ffi::PyObject_GenericGetDict(obj.as_ptr(), std::ptr::null_mut()),
        )
    }?;
    dict.cast_into::<PyDict>()
        .map_err(|_| PyTypeError::new_err("an instance's __dict__ must be a dict"))
}

/// `id(obj)`.
pub fn object_id<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: `PyLong_FromVoidPtr` of a live object's address is what `id()` returns: a
    // new reference, or NULL with an exception set.
    unsafe { Bound::from_owned_ptr_or_err(obj.py(), ffi::PyLong_FromVoidPtr(obj.as_ptr().cast())) }
}

/// `obj.name` as the instance holds it, None when it does not: read as
/// `object.__getattribute__` reads it, which leaves attributes kept inline where they
/// are (reading `__dict__` would make a dict of them). A miss reaches the class's
/// non-data descriptor (a column or relationship attribute), whose AttributeError
/// means "not there".
pub fn instance_value<'py>(
    obj: &Bound<'py, PyAny>,
    name: &Bound<'py, PyString>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let py = obj.py();
    // SAFETY: two live objects; `PyObject_GenericGetAttr` returns a new reference, or
    // NULL with an exception set.
    let value = unsafe { ffi::PyObject_GenericGetAttr(obj.as_ptr(), name.as_ptr()) };
    if !value.is_null() {
        // SAFETY: a new, non-null reference, handed over.
        return Ok(Some(unsafe { Bound::from_owned_ptr(py, value) }));
    }
    let err = PyErr::fetch(py);
    if err.is_instance_of::<PyAttributeError>(py) {
        return Ok(None);
    }
    Err(err)
}

/// `object.__setattr__(obj, name, value)`.
#[inline]
pub fn set_attr(
    obj: &Bound<'_, PyAny>,
    name: &Bound<'_, PyString>,
    value: &Bound<'_, PyAny>,
) -> PyResult<()> {
    // SAFETY: three live objects; `PyObject_GenericSetAttr` takes its own references and
    // returns -1 with an exception set on failure.
    let rc = unsafe { ffi::PyObject_GenericSetAttr(obj.as_ptr(), name.as_ptr(), value.as_ptr()) };
    if rc < 0 {
        return Err(PyErr::fetch(obj.py()));
    }
    Ok(())
}

impl<'py> Maker<'py> {
    /// How to make instances of `cls` with the attributes `names`.
    pub fn new<'a>(
        cls: &Bound<'py, PyAny>,
        names: impl IntoIterator<Item = &'a Bound<'py, PyString>>,
    ) -> PyResult<Maker<'py>>
    where
        'py: 'a,
    {
        let py = cls.py();
        if let Ok(ty) = cls.cast::<PyType>() {
            if plain_new(ty) && has_dict(ty) {
                let (cls, no_args) = (ty.clone(), PyTuple::empty(py));
                for name in names {
                    if data_descriptor(ty, name)? {
                        return Ok(Maker::Dict { cls, no_args });
                    }
                }
                return Ok(Maker::Attrs { cls, no_args });
            }
        }
        Ok(Maker::New {
            cls: cls.clone(),
            new: cls.getattr(intern!(py, "__new__"))?,
        })
    }

    /// A new instance whose attributes are the items of `dict` (which it may keep).
    #[inline]
    pub fn make(&self, dict: Bound<'py, PyDict>) -> PyResult<Bound<'py, PyAny>> {
        match self {
            Maker::Attrs { cls, no_args } => {
                let obj = new_object(cls, no_args)?;
                for (name, value) in dict.iter() {
                    set_attr(&obj, name.cast::<PyString>()?, &value)?;
                }
                Ok(obj)
            }
            Maker::Dict { cls, no_args } => {
                let obj = new_object(cls, no_args)?;
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

/// Batches smaller than this are built with the collector running as usual.
const GC_PAUSE_MIN_ROWS: usize = 256;

/// Holds the cyclic garbage collector off while one batch of rows becomes Python objects.
///
/// A batch makes one tracked object per row (an instance, a tuple), all alive until the
/// batch is returned, and none of them in a reference cycle. With the collector running,
/// 10,000 rows trigger some fourteen young-generation collections that each find nothing
/// to free, and the promotions they cause bring on older-generation collections that walk
/// every object of the process. Paused, the new objects are examined once, by the first
/// collection after the batch. `benchmarks/NOTES.md` ("Hydration in Rust") has the
/// figures. The collector is re-enabled on every exit path (the guard's `Drop`), and
/// only if it was enabled before; `gc.collect()` still works meanwhile.
pub struct GcPause(bool);

impl GcPause {
    pub fn new(_py: Python<'_>, rows: usize) -> GcPause {
        if rows < GC_PAUSE_MIN_ROWS {
            return GcPause(false);
        }
        // SAFETY: the GIL is held (we have a `Python` token); `PyGC_Disable` only sets the
        // interpreter's "collector enabled" flag and returns its previous value.
        GcPause(unsafe { ffi::PyGC_Disable() } == 1)
    }
}

impl Drop for GcPause {
    fn drop(&mut self) {
        if self.0 {
            // SAFETY: the guard lives inside a call that holds the GIL (it is created
            // from a `Python` token and never leaves the function that made it).
            unsafe { ffi::PyGC_Enable() };
        }
    }
}

fn ssize(n: usize) -> PyResult<ffi::Py_ssize_t> {
    ffi::Py_ssize_t::try_from(n).map_err(|_| PyTypeError::new_err("too many items"))
}

/// A list of `n` items, item `i` made by `item(i)` and stored in place (`PyList_New`,
/// then `PyList_SET_ITEM` taking the new reference): no intermediate vector, no
/// reference-count round trip per item. On an error the partly filled list is dropped
/// (its empty slots are NULL, which the list's deallocator skips).
pub fn list_of<'py>(
    py: Python<'py>,
    n: usize,
    mut item: impl FnMut(usize) -> PyResult<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyList>> {
    let len = ssize(n)?;
    // SAFETY: `PyList_New` returns a new list with `len` NULL slots, or NULL with an
    // exception set.
    let list = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyList_New(len)) }?;
    for i in 0..n {
        let value = item(i)?;
        // SAFETY: `i < len` and slot `i` is still NULL; `PyList_SET_ITEM` steals the
        // reference `into_ptr` hands over.
        unsafe { ffi::PyList_SET_ITEM(list.as_ptr(), i as ffi::Py_ssize_t, value.into_ptr()) };
    }
    // SAFETY: made by `PyList_New` above.
    Ok(unsafe { list.cast_into_unchecked() })
}

/// A tuple of `n` items made like [`list_of`]'s.
///
/// When no item can be part of a reference cycle (str, int, float, datetime, None...:
/// what a row holds), the tuple is taken out of the cyclic collector's watch at once,
/// as CPython itself does to such a tuple at the first collection it survives. A large
/// result then costs that collection nothing: otherwise it walks every row tuple still
/// alive (0.5 ms for 10,000 rows here).
#[inline]
pub fn tuple_of<'py>(
    py: Python<'py>,
    n: usize,
    mut item: impl FnMut(usize) -> PyResult<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyTuple>> {
    let len = ssize(n)?;
    // SAFETY: `PyTuple_New` returns a new tuple with `len` NULL slots, or NULL with an
    // exception set.
    let tuple = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyTuple_New(len)) }?;
    let mut atomic = true;
    for i in 0..n {
        let value = item(i)?;
        // SAFETY: `value` is a live object and we hold the GIL.
        atomic = atomic && !unsafe { may_be_tracked(value.as_ptr()) };
        // SAFETY: as in `list_of`. A converter run by `item` may run Python code, even a
        // collection, while the tuple is half filled: the collector skips NULL slots.
        unsafe { ffi::PyTuple_SET_ITEM(tuple.as_ptr(), i as ffi::Py_ssize_t, value.into_ptr()) };
    }
    // SAFETY: made by `PyTuple_New` above.
    let tuple = unsafe { tuple.cast_into_unchecked() };
    Ok(if atomic { untracked(tuple) } else { tuple })
}

/// `tuple`, taken out of the cyclic collector's watch: for a tuple the caller knows can
/// never be part of a reference cycle (nothing in it leads back to it). Reference
/// counting frees it as before.
pub fn untracked(tuple: Bound<'_, PyTuple>) -> Bound<'_, PyTuple> {
    // SAFETY: `tuple` is a live tuple; `PyObject_GC_UnTrack` only unlinks it from the
    // collector's list (a no-op when it is not tracked).
    unsafe { ffi::PyObject_GC_UnTrack(tuple.as_ptr().cast()) };
    tuple
}

/// Whether the cyclic collector may be watching `obj`: an object of a collected type,
/// except a tuple that is not tracked (CPython's own test when it untracks tuples).
///
/// # Safety
/// `obj` must be a live object and the GIL held.
unsafe fn may_be_tracked(obj: *mut ffi::PyObject) -> bool {
    // SAFETY: per the contract.
    unsafe {
        ffi::PyObject_IS_GC(obj) != 0
            && (ffi::PyTuple_CheckExact(obj) == 0 || ffi::PyObject_GC_IsTracked(obj) != 0)
    }
}

//! `Base.__init__` for its common case: keyword arguments that are all column keys.
//!
//! A model is built as `Model(name=..., age=...)`: every column is set, to the value
//! given, to its default (`info.make_default()`) or to None, and every collection
//! relationship to a new empty list (a new object has no related rows yet). In Python that is a
//! function call with `**kwargs` (a dict built for it), a subset test and two dict
//! updates into a `__dict__` made for the occasion: ~0.9 µs for seven columns, more
//! than the rest of an `insert_all` per object. Here it is a method descriptor taking
//! the keywords as the interpreter passes them (vectorcall: the names in a tuple, the
//! values in an array) and storing each column as `object.__setattr__` does, in the
//! column order.
//!
//! Calling a model class goes one step shorter: the metaclass installs the same fast
//! path as the class's `tp_init` ([`install_init`]), which reads the call's keyword dict
//! as it is. Through the method, the interpreter would look `__init__` up, make a new
//! argument tuple and turn the dict back into a stack on every call (~20 % of a
//! seven-column construction).
//!
//! Anything else — a positional argument, a keyword that is not a column (a
//! relationship, a property, a typo), a class without the metaclass's `_ormkit_init`
//! (an abstract base) — is passed unchanged to the Python implementation,
//! `_ormkit_init_general`, which decides what it means and which error to raise.

use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::intern;
use pyo3::panic::PanicException;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple, PyType};
use smallvec::SmallVec;
use std::os::raw::{c_char, c_int};
use std::panic::AssertUnwindSafe;

/// What the metaclass leaves in `_ormkit_init`: the column keys in column order, per
/// column `info.make_default` or None, and the keys of the collection relationships
/// (each starts as a new empty list), or None until the Python path has resolved them.
struct Plan<'py> {
    keys: Bound<'py, PyTuple>,
    makers: Bound<'py, PyTuple>,
    collections: Bound<'py, PyTuple>,
}

impl<'py> Plan<'py> {
    /// The plan of `obj`'s class; None when it has none of the expected shape.
    fn of(obj: &Bound<'py, PyAny>) -> PyResult<Option<Plan<'py>>> {
        let py = obj.py();
        let Ok(found) = obj.get_type().getattr(intern!(py, "_ormkit_init")) else {
            return Ok(None);
        };
        let Ok(parts) = found.cast_into::<PyTuple>() else {
            return Ok(None);
        };
        let [keys, makers, collections] = parts.as_slice() else {
            return Ok(None);
        };
        let (Ok(keys), Ok(makers), Ok(collections)) = (
            keys.cast::<PyTuple>(),
            makers.cast::<PyTuple>(),
            collections.cast::<PyTuple>(),
        ) else {
            return Ok(None);
        };
        if keys.len() != makers.len() {
            return Ok(None);
        }
        Ok(Some(Plan {
            keys: keys.clone(),
            makers: makers.clone(),
            collections: collections.clone(),
        }))
    }
}

/// Up to this many columns, the per-call bookkeeping stays on the stack.
type Places = SmallVec<[Option<usize>; 24]>;

/// The keyword arguments of one call: names and values side by side.
struct Keywords<'a, 'py> {
    names: &'a [Bound<'py, PyAny>],
    values: &'a [*mut ffi::PyObject],
}

impl<'py> Keywords<'_, 'py> {
    /// Which keyword each of `keys` was given by, found by identity (both sides are
    /// usually the same interned string) and, when not every keyword was placed that
    /// way, by equality. None when a keyword is not one of `keys`.
    fn places(&self, keys: &[Bound<'py, PyAny>]) -> PyResult<Option<Places>> {
        let mut placed = 0;
        let mut places: Places = keys
            .iter()
            .map(|key| {
                let at = self.names.iter().position(|name| name.is(key));
                placed += usize::from(at.is_some());
                at
            })
            .collect();
        if placed == self.names.len() {
            return Ok(Some(places));
        }
        for (key, at) in keys.iter().zip(places.iter_mut()) {
            if at.is_some() {
                continue;
            }
            for (i, name) in self.names.iter().enumerate() {
                if name.eq(key)? {
                    *at = Some(i);
                    placed += 1;
                    break;
                }
            }
        }
        Ok((placed == self.names.len()).then_some(places))
    }

    /// The value of keyword `i`.
    fn value(&self, py: Python<'py>, i: usize) -> Option<Bound<'py, PyAny>> {
        self.values.get(i).map(|&value| {
            // SAFETY: the interpreter passes live values for the call's duration; this
            // takes a new reference of our own.
            unsafe { Bound::from_borrowed_ptr(py, value) }
        })
    }
}

/// The keyword arguments of one call, as the interpreter passed them.
enum Given<'a, 'py> {
    /// A vectorcall (the method): names and values side by side.
    Stack(&'a Keywords<'a, 'py>),
    /// `tp_init` (the class called): the call's keyword dict, None for no keywords.
    Dict(Option<&'a Bound<'py, PyDict>>),
}

impl<'py> Given<'_, 'py> {
    /// Per column key, the value given for it; None when a keyword is not a column.
    fn values(&self, py: Python<'py>, keys: &[Bound<'py, PyAny>]) -> PyResult<Option<Values<'py>>> {
        match self {
            Given::Stack(keywords) => {
                let Some(places) = keywords.places(keys)? else {
                    return Ok(None);
                };
                Ok(Some(
                    places
                        .into_iter()
                        .map(|at| at.and_then(|i| keywords.value(py, i)))
                        .collect(),
                ))
            }
            Given::Dict(None) => Ok(Some(keys.iter().map(|_| None).collect())),
            Given::Dict(Some(dict)) => {
                let mut found = 0;
                let mut values = Values::with_capacity(keys.len());
                for key in keys {
                    let value = dict.get_item(key)?;
                    found += usize::from(value.is_some());
                    values.push(value);
                }
                // every keyword given is a column (keys are distinct, so are dict keys)
                Ok((found == dict.len()).then_some(values))
            }
        }
    }
}

/// Per column, the value given for it, if any.
type Values<'py> = SmallVec<[Option<Bound<'py, PyAny>>; 24]>;

/// The fast path: set every column of `obj` from `given`, defaults and None. Returns
/// false (having set nothing) when it does not apply.
fn init_columns(obj: &Bound<'_, PyAny>, given: &Given<'_, '_>) -> PyResult<bool> {
    let Some(plan) = Plan::of(obj)? else {
        return Ok(false);
    };
    let py = obj.py();
    let keys = plan.keys.as_slice();
    let Some(values) = given.values(py, keys)? else {
        return Ok(false);
    };
    for ((key, maker), value) in keys.iter().zip(plan.makers.as_slice()).zip(values) {
        let value = match value {
            Some(value) => value,
            None if maker.is_none() => py.None().into_bound(py),
            None => maker.call0()?,
        };
        let key = key
            .cast::<PyString>()
            .map_err(|_| PyTypeError::new_err("a column key must be a str"))?;
        crate::py::convert::objects::set_attr(obj, key, &value)?;
    }
    for key in plan.collections.iter() {
        let key = key
            .cast::<PyString>()
            .map_err(|_| PyTypeError::new_err("a relationship key must be a str"))?;
        crate::py::convert::objects::set_attr(obj, key, PyList::empty(py).as_any())?;
    }
    Ok(true)
}

/// `_ormkit_init_general(self, *args, **kwargs)`: the Python implementation, called
/// with the arguments as they came.
///
/// # Safety
/// `args` holds `nargs` positional values followed by one value per name in `kwnames`
/// (a tuple, or NULL), all live for the call.
unsafe fn init_general(
    obj: &Bound<'_, PyAny>,
    args: *const *mut ffi::PyObject,
    nargs: usize,
    kwnames: *mut ffi::PyObject,
    nkw: usize,
) -> PyResult<()> {
    let py = obj.py();
    let mut stack: Vec<*mut ffi::PyObject> = Vec::with_capacity(1 + nargs + nkw);
    stack.push(obj.as_ptr());
    if nargs + nkw > 0 {
        // SAFETY: the caller's contract: `nargs + nkw` live values at `args`.
        stack.extend_from_slice(unsafe { std::slice::from_raw_parts(args, nargs + nkw) });
    }
    let name = intern!(py, "_ormkit_init_general");
    // SAFETY: `stack` holds self and the call's values, live for this call; `kwnames`
    // is the call's tuple or NULL. A new reference or NULL with an exception comes back.
    let result = unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyObject_VectorcallMethod(name.as_ptr(), stack.as_ptr(), 1 + nargs, kwnames),
        )
    }?;
    if !result.is_none() {
        return Err(PyTypeError::new_err("__init__() should return None"));
    }
    Ok(())
}

/// The method's C function (`METH_FASTCALL | METH_KEYWORDS`). A panic (a bug) becomes a
/// `PanicException`, as in any pyo3 function, instead of unwinding into the interpreter.
unsafe extern "C" fn model_init_c(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: the interpreter calls a method with the GIL held.
    let py = unsafe { Python::assume_attached() };
    // SAFETY: the arguments as the interpreter passed them (see `model_init_body`).
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| unsafe {
        model_init_body(py, slf, args, nargs, kwnames)
    }))
    .unwrap_or_else(|_| Err(PanicException::new_err("panic in Base.__init__")));
    match outcome {
        Ok(()) => py.None().into_ptr(),
        Err(err) => {
            err.restore(py);
            std::ptr::null_mut()
        }
    }
}

/// The body of [`model_init_c`].
///
/// # Safety
/// The arguments of a `METH_FASTCALL | METH_KEYWORDS` call: a live `slf`, `nargs`
/// positional values at `args` followed by one per name in `kwnames` (NULL or a tuple).
unsafe fn model_init_body(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<()> {
    // SAFETY: `slf` is the live instance the method is called on.
    let obj = unsafe { Bound::from_borrowed_ptr(py, slf) };
    let names = if kwnames.is_null() {
        None
    } else {
        // SAFETY: a non-NULL `kwnames` is the call's tuple of keyword names.
        Some(unsafe { Bound::from_borrowed_ptr(py, kwnames).cast_into_unchecked::<PyTuple>() })
    };
    let names: &[Bound<'_, PyAny>] = names.as_ref().map_or(&[], |n| n.as_slice());
    let nargs = usize::try_from(nargs).unwrap_or(0);
    let nkw = names.len();
    let values: &[*mut ffi::PyObject] = if nkw == 0 {
        &[]
    } else {
        // SAFETY: the keyword values follow the `nargs` positional ones at `args`.
        unsafe { std::slice::from_raw_parts(args.add(nargs), nkw) }
    };
    if nargs == 0 && init_columns(&obj, &Given::Stack(&Keywords { names, values }))? {
        return Ok(());
    }
    // SAFETY: the call's own arguments, as received.
    unsafe { init_general(&obj, args, nargs, kwnames, nkw) }
}

/// The class's `tp_init` (see [`install_init`]): what calling a model class runs after
/// `object.__new__`, with the call's positional tuple and keyword dict as they are.
unsafe extern "C" fn model_tp_init(
    slf: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
    kwds: *mut ffi::PyObject,
) -> c_int {
    // SAFETY: the interpreter calls a slot with the GIL held.
    let py = unsafe { Python::assume_attached() };
    // SAFETY: the slot's arguments as the interpreter passed them (see `tp_init_body`).
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| unsafe {
        tp_init_body(py, slf, args, kwds)
    }))
    .unwrap_or_else(|_| Err(PanicException::new_err("panic in Base.__init__")));
    match outcome {
        Ok(()) => 0,
        Err(err) => {
            err.restore(py);
            -1
        }
    }
}

/// The body of [`model_tp_init`].
///
/// # Safety
/// The arguments of a `tp_init` call: a live `slf`, a tuple `args` (or NULL) and a dict
/// `kwds` (or NULL).
unsafe fn tp_init_body(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
    kwds: *mut ffi::PyObject,
) -> PyResult<()> {
    // SAFETY: `slf` is the live instance being initialised.
    let obj = unsafe { Bound::from_borrowed_ptr(py, slf) };
    let args = if args.is_null() {
        PyTuple::empty(py)
    } else {
        // SAFETY: a live object; checked to be a tuple before use.
        unsafe { Bound::from_borrowed_ptr(py, args) }
            .cast_into::<PyTuple>()
            .map_err(|_| PyTypeError::new_err("__init__ arguments must be a tuple"))?
    };
    let kwargs = if kwds.is_null() {
        None
    } else {
        // SAFETY: a live object; checked to be a dict before use.
        Some(
            unsafe { Bound::from_borrowed_ptr(py, kwds) }
                .cast_into::<PyDict>()
                .map_err(|_| PyTypeError::new_err("__init__ keywords must be a dict"))?,
        )
    };
    if args.is_empty() && init_columns(&obj, &Given::Dict(kwargs.as_ref()))? {
        return Ok(());
    }
    let general = obj
        .get_type()
        .getattr(intern!(py, "_ormkit_init_general"))?;
    let mut call: Vec<Bound<'_, PyAny>> = Vec::with_capacity(1 + args.len());
    call.push(obj);
    call.extend(args.iter());
    let result = general.call(PyTuple::new(py, call)?, kwargs.as_ref())?;
    if !result.is_none() {
        return Err(PyTypeError::new_err("__init__() should return None"));
    }
    Ok(())
}

/// Makes calling `cls` run `Base.__init__`'s fast path directly, when `cls.__init__` is
/// `Base.__init__` (the method [`model_init`] made): `cls`'s `tp_init` becomes
/// [`model_tp_init`]. The interpreter would otherwise find the method on each call and
/// call it with a new argument tuple, turning the keyword dict into a stack first.
/// Assigning `__init__` on the class or a base later resets the slot (the interpreter's
/// own slot update), and a class with an `__init__` of its own is left alone. Returns
/// whether it was installed.
#[pyfunction]
pub fn install_init(cls: &Bound<'_, PyType>) -> PyResult<bool> {
    let py = cls.py();
    let found = cls.getattr(intern!(py, "__init__"))?;
    // SAFETY: a type check of a live object; `PyMethodDescr_Type` is a static type.
    let is_method_descr =
        unsafe { ffi::Py_TYPE(found.as_ptr()) == std::ptr::addr_of_mut!(ffi::PyMethodDescr_Type) };
    if !is_method_descr {
        return Ok(false);
    }
    // SAFETY: `found` is a method descriptor (checked), whose `d_method` points at its
    // method definition for the descriptor's life.
    let ours = unsafe {
        let descr = found.as_ptr().cast::<ffi::PyMethodDescrObject>();
        let def = (*descr).d_method;
        !def.is_null()
            && std::ptr::fn_addr_eq(
                (*def).ml_meth.PyCFunctionFastWithKeywords,
                model_init_c as ffi::PyCFunctionFastWithKeywords,
            )
    };
    if ours {
        // SAFETY: `cls` is a live type; `tp_init` is a plain slot the interpreter reads
        // on each instantiation (and rewrites itself when `__init__` is reassigned).
        unsafe { (*cls.as_type_ptr()).tp_init = Some(model_tp_init) };
    }
    Ok(ours)
}

const DOC: &[u8] = b"__init__($self, /, **kwargs)\n--\n\n\
Set each column to the keyword argument of its name, its default, or None; keywords\n\
that are not columns (relationships, properties) are handled by _ormkit_init_general.\0";

/// `Base.__init__`: a method descriptor of `base` running the fast path above, and
/// `base._ormkit_init_general` otherwise.
#[pyfunction]
pub fn model_init<'py>(base: &Bound<'py, PyType>) -> PyResult<Bound<'py, PyAny>> {
    let def = Box::leak(Box::new(ffi::PyMethodDef {
        ml_name: c"__init__".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunctionFastWithKeywords: model_init_c,
        },
        ml_flags: ffi::METH_FASTCALL | ffi::METH_KEYWORDS,
        ml_doc: DOC.as_ptr().cast::<c_char>(),
    }));
    // SAFETY: `base` is a live type; `def` lives for the rest of the process (leaked: one
    // per call, made once at import). A new reference or NULL with an exception.
    unsafe {
        Bound::from_owned_ptr_or_err(
            base.py(),
            ffi::PyDescr_NewMethod(base.as_type_ptr(), std::ptr::from_mut(def)),
        )
    }
}

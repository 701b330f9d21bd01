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
//! Calling a model class goes shorter still: the metaclass installs the same fast path
//! as the class's `tp_init` ([`install_init`]), and as the class's own vectorcall
//! ([`model_vectorcall`]), which takes the caller's keywords as they are, with no
//! keyword dict made for `type.__call__` (a seven-column construction 345 → 217 ns).
//! Through the method, the interpreter would look `__init__` up, make a new argument
//! tuple and turn the dict back into a stack on every call (~20 % of a seven-column
//! construction).
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
    guarded(py, "Base.__init__", || unsafe {
        model_init_body(py, slf, args, nargs, kwnames)
    })
    .map_or(std::ptr::null_mut(), |()| py.None().into_ptr())
}

/// `body`'s result, or None with the Python error set: its error, or a
/// `PanicException` naming `what` for a panic (a bug), which must not unwind into the
/// interpreter. What a C entry point of this module returns is made from it.
pub(crate) fn guarded<T>(
    py: Python<'_>,
    what: &str,
    body: impl FnOnce() -> PyResult<T>,
) -> Option<T> {
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(body))
        .unwrap_or_else(|_| Err(PanicException::new_err(format!("panic in {what}"))));
    outcome.map_err(|err| err.restore(py)).ok()
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
    guarded(py, "Base.__init__", || unsafe {
        tp_init_body(py, slf, args, kwds)
    })
    .map_or(-1, |()| 0)
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

/// Calling a model class (`Model(name=...)`), as the class's own vectorcall (see
/// [`install_init`]): `object.__new__` and the fast path, with the keywords as the caller
/// passed them. Through `type.__call__`, the interpreter would first gather them into a
/// new dict and `tp_init` would look each column up in it (~0.1 µs of a seven-column
/// construction). Anything the slots no longer promise — `__init__` or `__new__`
/// assigned on the class or a base since, positional arguments — goes through the
/// metaclass's `tp_call` as a plain call would.
unsafe extern "C" fn model_vectorcall(
    callable: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: usize,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: the interpreter calls a vectorcall with the GIL held.
    let py = unsafe { Python::assume_attached() };
    // SAFETY: the arguments as the interpreter passed them (see `vectorcall_body`).
    guarded(py, "a model class call", || unsafe {
        vectorcall_body(py, callable, args, nargsf, kwnames)
    })
    .map_or(std::ptr::null_mut(), Bound::into_ptr)
}

/// Whether calling `cls` still means `object.__new__` and then [`model_tp_init`].
///
/// # Safety
/// `cls` is a live type.
unsafe fn slots_are_ours(cls: *mut ffi::PyTypeObject) -> bool {
    // SAFETY: the caller's contract; `PyBaseObject_Type` is a static type.
    let (init, new, object_new) = unsafe {
        (
            (*cls).tp_init,
            (*cls).tp_new,
            (*std::ptr::addr_of!(ffi::PyBaseObject_Type)).tp_new,
        )
    };
    let init_ours = init.is_some_and(|f| std::ptr::fn_addr_eq(f, model_tp_init as ffi::initproc));
    let new_ours = match (new, object_new) {
        (Some(new), Some(object_new)) => std::ptr::fn_addr_eq(new, object_new),
        _ => false,
    };
    init_ours && new_ours
}

/// The body of [`model_vectorcall`].
///
/// # Safety
/// The arguments of a vectorcall: a live type `callable`, `nargs` positional values at
/// `args` followed by one per name in `kwnames` (NULL or a tuple), all live for the call.
unsafe fn vectorcall_body<'py>(
    py: Python<'py>,
    callable: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: usize,
    kwnames: *mut ffi::PyObject,
) -> PyResult<Bound<'py, PyAny>> {
    let cls = callable.cast::<ffi::PyTypeObject>();
    let nargs = usize::try_from(unsafe { ffi::PyVectorcall_NARGS(nargsf) }).unwrap_or(0);
    // SAFETY: `callable` is the class being called (this function is only ever its own
    // vectorcall).
    let (ours, new) = unsafe { (slots_are_ours(cls), (*cls).tp_new) };
    let (true, 0, Some(new)) = (ours, nargs, new) else {
        // SAFETY: the call's own arguments, as received.
        return unsafe { call_through_type(py, callable, args, nargs, kwnames) };
    };
    // SAFETY: `object.__new__` with no arguments (checked above), as `type.__call__`
    // would call it; a new reference or NULL with an exception.
    let obj = unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            new(cls, PyTuple::empty(py).as_ptr(), std::ptr::null_mut()),
        )
    }?;
    // SAFETY: `obj` is the new instance; the call's keywords follow its (zero) positional
    // arguments at `args`.
    unsafe { model_init_body(py, obj.as_ptr(), args, 0, kwnames) }?;
    Ok(obj)
}

/// The call as the interpreter makes it for a class without a vectorcall: a tuple, a
/// keyword dict and the metaclass's `tp_call` (`type.__call__`: `__new__`, `__init__`).
///
/// # Safety
/// As [`vectorcall_body`], with `nargs` already taken from `nargsf`.
unsafe fn call_through_type<'py>(
    py: Python<'py>,
    callable: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: usize,
    kwnames: *mut ffi::PyObject,
) -> PyResult<Bound<'py, PyAny>> {
    let names: Option<Bound<'py, PyTuple>> = (!kwnames.is_null()).then(|| {
        // SAFETY: a non-NULL `kwnames` is the call's tuple of keyword names.
        unsafe { Bound::from_borrowed_ptr(py, kwnames).cast_into_unchecked::<PyTuple>() }
    });
    let nkw = names.as_ref().map_or(0, |n| n.len());
    let values: &[*mut ffi::PyObject] = if nargs + nkw == 0 {
        &[]
    } else {
        // SAFETY: the caller's contract: `nargs + nkw` live values at `args`.
        unsafe { std::slice::from_raw_parts(args, nargs + nkw) }
    };
    let borrowed = |&value: &*mut ffi::PyObject| {
        // SAFETY: a live value of the call; this takes a new reference of our own.
        unsafe { Bound::from_borrowed_ptr(py, value) }
    };
    let positional = PyTuple::new(py, values[..nargs].iter().map(borrowed))?;
    let keywords = match &names {
        Some(names) => {
            let dict = PyDict::new(py);
            for (name, value) in names.iter().zip(values[nargs..].iter().map(borrowed)) {
                dict.set_item(name, value)?;
            }
            Some(dict)
        }
        None => None,
    };
    // SAFETY: `callable` is live; its metaclass's `tp_call` is what the interpreter
    // calls for it without a vectorcall.
    let call = unsafe { (*ffi::Py_TYPE(callable)).tp_call }
        .ok_or_else(|| PyTypeError::new_err("the model class is not callable"))?;
    let kwargs = keywords
        .as_ref()
        .map_or(std::ptr::null_mut(), |d| d.as_ptr());
    // SAFETY: a live callable, a tuple and a dict (or NULL); a new reference or NULL with
    // an exception comes back.
    unsafe { Bound::from_owned_ptr_or_err(py, call(callable, positional.as_ptr(), kwargs)) }
}

/// Gives `cls` [`model_vectorcall`] when its metaclass calls classes as `type` does
/// (no `__call__` of its own) and has room for a class's vectorcall; marks the
/// metaclass as one whose instances (classes) may have one.
///
/// # Safety
/// `cls` is a live type whose `tp_init` is [`model_tp_init`].
unsafe fn install_vectorcall(cls: *mut ffi::PyTypeObject) -> bool {
    // SAFETY: the caller's contract; the metaclass of a live type is a live type and
    // `PyType_Type` is a static one.
    unsafe {
        let meta = ffi::Py_TYPE(cls.cast::<ffi::PyObject>());
        let type_call = (*std::ptr::addr_of!(ffi::PyType_Type)).tp_call;
        let calls_as_type = match ((*meta).tp_call, type_call) {
            (Some(call), Some(type_call)) => std::ptr::fn_addr_eq(call, type_call),
            _ => false,
        };
        let offset = std::mem::offset_of!(ffi::PyTypeObject, tp_vectorcall);
        if !calls_as_type || usize::try_from((*meta).tp_vectorcall_offset).ok() != Some(offset) {
            return false;
        }
        (*cls).tp_vectorcall = Some(model_vectorcall);
        (*meta).tp_flags |= ffi::Py_TPFLAGS_HAVE_VECTORCALL;
        true
    }
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
        // on each instantiation (and rewrites itself when `__init__` is reassigned). The
        // class's vectorcall checks that slot on every call.
        unsafe {
            (*cls.as_type_ptr()).tp_init = Some(model_tp_init);
            install_vectorcall(cls.as_type_ptr());
        }
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

//! Filling (and reading) the `__slots__` of instances made by `object.__new__`, by offset.
//!
//! A `__slots__` attribute of a Python class is a member descriptor: a fixed offset in
//! the instance where an object pointer lives. `object.__setattr__` finds the descriptor
//! (a type lookup) and stores through it (`PyMember_SetOne`); for an instance just made
//! by `object.__new__`, whose slots are all empty, storing the pointer at the offset is
//! the same thing without the lookups. [`SlotWriter::new`] checks, once per call, that
//! each name is such a slot of the class or a base (an object member, not read-only,
//! inside the instance) and gives up otherwise, so the caller can use
//! `object.__setattr__` instead. The answer for the last class asked is remembered with
//! the class's version tag, which CPython changes whenever the class or a base is
//! modified, so a session's reads (always the same state class) skip the lookups.

use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyType};
use std::sync::Mutex;

/// The slots of the ORM's state class (`ormkit.orm.state.InstanceState`), in the order
/// `to_tracked_models` fills them and the selectin loader reads them (one order, so both
/// share the remembered offsets).
pub fn state_slot_names(py: Python<'_>) -> [&Bound<'_, PyString>; 4] {
    [
        intern!(py, "obj"),
        intern!(py, "key"),
        intern!(py, "persistent"),
        intern!(py, "snapshot"),
    ]
}

/// The last answer: the class, its version tag then, the names asked, the offsets.
type Remembered = (Py<PyType>, u32, Vec<Py<PyString>>, Option<Vec<usize>>);

static LAST: Mutex<Option<Remembered>> = Mutex::new(None);

/// `ty`'s version tag, or None when it has no valid one (then nothing is remembered).
fn version_tag(ty: &Bound<'_, PyType>) -> Option<u32> {
    // SAFETY: reading two fields of a live type.
    let (flags, tag) = unsafe {
        let t = ty.as_type_ptr();
        ((*t).tp_flags, (*t).tp_version_tag)
    };
    (flags & ffi::Py_TPFLAGS_VALID_VERSION_TAG != 0 && tag != 0).then_some(tag)
}

/// The object pointer `offset` bytes into `obj`.
///
/// # Safety
/// `offset` must be an object member of `obj`'s type, within its instances (as
/// [`SlotWriter::new`] checks).
unsafe fn slot_at(obj: &Bound<'_, PyAny>, offset: usize) -> *mut *mut ffi::PyObject {
    // SAFETY: per the contract, `offset` stays inside the instance.
    unsafe { obj.as_ptr().cast::<u8>().add(offset).cast() }
}

/// Where the named slots of one class are.
pub struct SlotWriter<'py> {
    ty: Bound<'py, PyType>,
    offsets: Vec<usize>,
}

impl<'py> SlotWriter<'py> {
    /// The slots `names` of `ty`, in that order; None when one of them is not a
    /// writable object slot of `ty`'s instances.
    pub fn new(ty: &Bound<'py, PyType>, names: &[&Bound<'py, PyString>]) -> PyResult<Option<Self>> {
        let same = |(t, v, n, _): &Remembered| {
            t.is(ty)
                && Some(*v) == version_tag(ty)
                && n.len() == names.len()
                && n.iter().zip(names).all(|(a, b)| a.is(*b))
        };
        {
            let last = LAST.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(remembered) = last.as_ref().filter(|r| same(r)) {
                return Ok(remembered.3.clone().map(|offsets| SlotWriter {
                    ty: ty.clone(),
                    offsets,
                }));
            }
        }
        let found = Self::find(ty, names)?;
        if let Some(tag) = version_tag(ty) {
            let offsets = found.as_ref().map(|w| w.offsets.clone());
            let names = names.iter().map(|n| (*n).clone().unbind()).collect();
            let entry = Some((ty.clone().unbind(), tag, names, offsets));
            let previous = std::mem::replace(
                &mut *LAST.lock().unwrap_or_else(|poisoned| poisoned.into_inner()),
                entry,
            );
            drop(previous); // outside the lock: releasing a class may run Python code
        }
        Ok(found)
    }

    /// [`SlotWriter::new`] without the remembered answer.
    fn find(ty: &Bound<'py, PyType>, names: &[&Bound<'py, PyString>]) -> PyResult<Option<Self>> {
        // SAFETY: reading a field of a live type.
        let basicsize = unsafe { (*ty.as_type_ptr()).tp_basicsize };
        let mut offsets = Vec::with_capacity(names.len());
        for name in names {
            // The class attribute: for a slot, its member descriptor (found through the
            // type's attribute cache; `type` itself has no attribute of these names).
            let Ok(found) = ty.getattr(name) else {
                return Ok(None);
            };
            // The type of member descriptors is a static of the interpreter: compared by
            // address.
            let is_member =
                found.get_type().as_type_ptr() == std::ptr::addr_of_mut!(ffi::PyMemberDescr_Type);
            if !is_member {
                return Ok(None);
            }
            // SAFETY: `found` is a member descriptor (checked just above), so it has the
            // layout of `PyMemberDescrObject`, whose `d_member` points to the member
            // definition the descriptor was made from (it lives as long as the class).
            let (owner, member) = unsafe {
                let descr = found.as_ptr().cast::<ffi::PyMemberDescrObject>();
                ((*descr).d_common.d_type, *(*descr).d_member)
            };
            // The descriptor must describe `ty`'s own layout: made for `ty` or a base.
            // SAFETY: both are live types (the descriptor holds its owner).
            if owner.is_null() || unsafe { ffi::PyType_IsSubtype(ty.as_type_ptr(), owner) } == 0 {
                return Ok(None);
            }
            let inside = usize::try_from(member.offset)
                .ok()
                .filter(|&o| o >= std::mem::size_of::<ffi::PyObject>())
                .filter(|&o| {
                    o + std::mem::size_of::<*mut ffi::PyObject>() <= basicsize.max(0) as usize
                });
            match inside {
                Some(offset)
                    if member.type_code == ffi::Py_T_OBJECT_EX
                        && member.flags & ffi::Py_READONLY == 0 =>
                {
                    offsets.push(offset)
                }
                _ => return Ok(None),
            }
        }
        Ok(Some(SlotWriter {
            ty: ty.clone(),
            offsets,
        }))
    }

    /// The value in slot `index` (in the order of the names) of `obj`; None when `obj` is
    /// not an instance of exactly this class, `index` is out of range or the slot is empty
    /// (where reading the attribute would raise `AttributeError`).
    pub fn read(&self, obj: &Bound<'py, PyAny>, index: usize) -> Option<Bound<'py, PyAny>> {
        let offset = *self.offsets.get(index)?;
        if !obj.get_type().is(&self.ty) {
            return None;
        }
        // SAFETY: `obj` is an instance of `self.ty` (checked above), which holds an object
        // pointer (or NULL) at `offset` (checked in `new`); we take a new reference to it.
        unsafe { Bound::from_borrowed_ptr_or_opt(obj.py(), *slot_at(obj, offset)) }
    }

    /// Store `values` (in the order of the names) into the slots of `obj`, an instance
    /// of exactly this writer's class.
    pub fn fill(&self, obj: &Bound<'py, PyAny>, values: &[&Bound<'py, PyAny>]) -> PyResult<()> {
        if !obj.get_type().is(&self.ty) || values.len() != self.offsets.len() {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "slots filled on an instance of another class, or with a wrong count",
            ));
        }
        for (&offset, value) in self.offsets.iter().zip(values) {
            // SAFETY: `obj` is an instance of `self.ty` (checked above), whose instances
            // have an object pointer at `offset` (checked in `new`: an object member
            // within `tp_basicsize`, past the object header). We store a new reference
            // there and release whatever was there before, as `PyMember_SetOne` does.
            unsafe {
                let old = std::ptr::replace(slot_at(obj, offset), (*value).clone().into_ptr());
                ffi::Py_XDECREF(old);
            }
        }
        Ok(())
    }
}

/// Index of a state slot in [`state_slot_names`] order.
pub const STATE_OBJ: usize = 0;
pub const STATE_PERSISTENT: usize = 2;
pub const STATE_SNAPSHOT: usize = 3;

/// Reads the attributes of session states (`obj`, `key`, `persistent`, `snapshot`):
/// by offset when the state's class has them as slots, by `getattr` otherwise. The
/// offsets of the last class seen are kept, so a pass over one session's states looks
/// its class up once.
pub struct StateSlots<'py> {
    py: Python<'py>,
    last: Option<(Bound<'py, PyType>, Option<SlotWriter<'py>>)>,
}

impl<'py> StateSlots<'py> {
    pub fn new(py: Python<'py>) -> StateSlots<'py> {
        StateSlots { py, last: None }
    }

    /// Attribute `index` ([`STATE_OBJ`], ...) of `state`.
    pub fn get(&mut self, state: &Bound<'py, PyAny>, index: usize) -> PyResult<Bound<'py, PyAny>> {
        let ty = state.get_type();
        if self.last.as_ref().is_none_or(|(t, _)| !t.is(&ty)) {
            let writer = SlotWriter::new(&ty, &state_slot_names(self.py))?;
            self.last = Some((ty, writer));
        }
        let by_offset = self
            .last
            .as_ref()
            .and_then(|(_, slots)| slots.as_ref()?.read(state, index));
        match by_offset {
            Some(value) => Ok(value),
            None => state.getattr(state_slot_names(self.py)[index]),
        }
    }
}

//! Everything that touches pyo3 lives here; `pg` and `sqlite` stay plain Rust.

pub mod changes;
pub mod convert;
pub mod errors;
pub mod insert;
pub mod json_list;
pub mod loaders;
pub mod loop_idle;
pub mod model_init;
pub mod model_setattr;
pub mod pg;
pub mod pg_inline;
pub mod reply_times;
pub mod result;
pub mod runtime;
pub mod sqlite;
pub mod testing;

use pyo3::prelude::*;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<result::QueryResult>()?;
    m.add_class::<sqlite::SqliteBackend>()?;
    m.add_class::<pg::PyPgConfig>()?;
    m.add_class::<pg::PgProtocol>()?;
    m.add_class::<sqlite::SqliteTransaction>()?;
    m.add_class::<sqlite::SqliteStream>()?;
    m.add_class::<insert::InsertRules>()?;
    m.add_function(wrap_pyfunction!(insert::gather_insert_values, m)?)?;
    m.add_function(wrap_pyfunction!(insert::written_snapshots, m)?)?;
    m.add_function(wrap_pyfunction!(insert::set_returned, m)?)?;
    m.add_function(wrap_pyfunction!(result::track::track_objects, m)?)?;
    m.add_function(wrap_pyfunction!(changes::changed_states, m)?)?;
    m.add_function(wrap_pyfunction!(json_list::sqlite_json_list, m)?)?;
    m.add_function(wrap_pyfunction!(loaders::collect_by_attribute, m)?)?;
    m.add_function(wrap_pyfunction!(loaders::link_fresh, m)?)?;
    m.add_function(wrap_pyfunction!(loaders::set_reverse, m)?)?;
    m.add_function(wrap_pyfunction!(loop_idle::check_spin_setting, m)?)?;
    m.add_function(wrap_pyfunction!(model_init::model_init, m)?)?;
    m.add_function(wrap_pyfunction!(model_init::install_init, m)?)?;
    m.add_function(wrap_pyfunction!(model_setattr::model_setattr, m)?)?;
    m.add_function(wrap_pyfunction!(testing::_force_panic, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

"""Read Delta tables without a JVM, through delta-rs (the ``deltalake`` package).

Used for summaries and as the independent reader in tests. Reads go through
``QueryBuilder`` (DataFusion): with deltalake 1.6, ``to_pandas``/``to_pyarrow_table`` can
abort the interpreter at exit ("terminate called without an active exception"), the
DataFusion path does not.
"""

from __future__ import annotations


def read_table(path: str, columns: list[str] | None = None, where: str | None = None):
    """The table at ``path`` as a pandas DataFrame, or ``None`` if no Delta table is there."""
    import pyarrow as pa
    from deltalake import DeltaTable, QueryBuilder
    from deltalake.exceptions import TableNotFoundError

    try:
        table = DeltaTable(path)
    except TableNotFoundError:
        return None
    projection = ", ".join(f'"{c}"' for c in columns) if columns else "*"
    sql = f"SELECT {projection} FROM t" + (f" WHERE {where}" if where else "")
    result = pa.table(QueryBuilder().register("t", table).execute(sql).read_all())
    return result.cast(pa.schema([f.with_type(_plain(f.type)) for f in result.schema])).to_pandas()


def _plain(dtype):
    """DataFusion hands out string_view/binary_view, which pandas conversion does not take."""
    import pyarrow as pa

    if pa.types.is_string_view(dtype):
        return pa.string()
    if pa.types.is_binary_view(dtype):
        return pa.binary()
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return pa.list_(dtype.value_field.with_type(_plain(dtype.value_type)))
    if pa.types.is_map(dtype):
        return pa.map_(_plain(dtype.key_type), _plain(dtype.item_type))
    if pa.types.is_struct(dtype):
        return pa.struct([f.with_type(_plain(f.type)) for f in dtype])
    return dtype

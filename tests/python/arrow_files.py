# Arrow IPC files for the reader's tests, written by `datasets` (save_to_disk) and by pyarrow
# itself, with what pyarrow reads back from them (to_pylist). Usage: arrow_files.py OUTDIR
# [FILE.arrow ...]. Output (stdout): {"splits": {name: {"path": folder, "rows": [...]}},
# "streams": {name: {"path": file, "rows": [...]}}, "bad": {name: file},
# "files": {FILE.arrow: rows}} (the extra files given, as pyarrow reads them).
import json
import os
import sys

import datasets
import pyarrow as pa

out = sys.argv[1]
datasets.disable_progress_bars()


def read_rows(path):
    """The rows pyarrow reads from an Arrow IPC stream or file."""
    with pa.memory_map(path) as source:
        magic = source.read(6)
        source.seek(0)
        reader = pa.ipc.open_file(source) if magic == b"ARROW1" else pa.ipc.open_stream(source)
        return reader.read_all().to_pylist()


def split_rows(folder):
    """A save_to_disk folder's rows: state.json's files in order."""
    with open(os.path.join(folder, "state.json")) as f:
        names = [entry["filename"] for entry in json.load(f)["_data_files"]]
    return [row for name in names for row in read_rows(os.path.join(folder, name))]


# Every type the reader takes, with nulls, through datasets' own writer: several shards, several
# record batches per shard (writer_batch_size 3 over 11 rows), a string over 64 KiB.
features = datasets.Features(
    {
        "text": datasets.Value("string"),
        "large": datasets.Value("large_string"),
        "i64": datasets.Value("int64"),
        "i32": datasets.Value("int32"),
        "i8": datasets.Value("int8"),
        "u16": datasets.Value("uint16"),
        "u64": datasets.Value("uint64"),
        "flag": datasets.Value("bool"),
        "f16": datasets.Value("float16"),
        "f32": datasets.Value("float32"),
        "f64": datasets.Value("float64"),
        "nothing": datasets.Value("null"),
        "choices": datasets.Sequence(datasets.Value("string")),
        "numbers": datasets.Sequence(datasets.Value("int64")),
        "arc": {
            "text": datasets.Sequence(datasets.Value("string")),
            "label": datasets.Sequence(datasets.Value("string")),
        },
        "pair": {"name": datasets.Value("string"), "score": datasets.Value("float64")},
    }
)
long_text = "é" + "0123456789abcdef" * 4200 + "∑"  # > 64 KiB of UTF-8
rows = []
for i in range(11):
    rows.append(
        {
            "text": None if i % 4 == 1 else ("" if i == 2 else f"row {i} ✓ " * i),
            "large": long_text if i == 5 else (None if i == 3 else f"L{i}"),
            "i64": None if i == 7 else (i - 5) * 2**40,
            "i32": None if i == 0 else -(2**31) + i if i % 2 else 2**31 - 1 - i,
            "i8": None if i == 9 else -128 + 25 * i,
            "u16": None if i == 4 else 65535 - i,
            "u64": None if i == 6 else 2**53 - i,
            "flag": None if i == 8 else i % 3 == 0,
            "f16": None if i == 10 else [0.5, -0.0, 65504.0, 6e-08, 1.5][i % 5],
            "f32": None if i == 1 else 0.1 * i - 0.3,
            "f64": None if i == 2 else 1 / (i + 1),
            "nothing": None,
            "choices": None if i == 6 else [f"c{j}" for j in range(i % 4)] + ([None] if i == 5 else []),
            "numbers": [] if i % 2 else [i, None, -i],
            "arc": None if i == 9 else {"text": ["x", f"y{i}"], "label": ["A", "B"]},
            "pair": None if i == 3 else {"name": None if i == 4 else f"p{i}", "score": i / 4},
        }
    )
splits = {}
folder = os.path.join(out, "types")
default_batch_size = datasets.config.DEFAULT_MAX_BATCH_SIZE
datasets.config.DEFAULT_MAX_BATCH_SIZE = 3  # save_to_disk's writer_batch_size
datasets.Dataset.from_list(rows, features=features).save_to_disk(folder, num_shards=2)
datasets.config.DEFAULT_MAX_BATCH_SIZE = default_batch_size
splits["types"] = {"path": folder, "rows": split_rows(folder)}
# No rows at all: datasets lists no data file (and its own load_from_disk fails on that).
folder = os.path.join(out, "empty")
datasets.Dataset.from_list(rows, features=features).select([]).save_to_disk(folder)
splits["empty"] = {"path": folder, "rows": split_rows(folder)}
# The writer's default batch size: three record batches in one file, read in order.
folder = os.path.join(out, "batches")
many = [{"n": i, "s": str(i) * (i % 7)} for i in range(2500)]
datasets.Dataset.from_list(many).save_to_disk(folder)
splits["batches"] = {"path": folder, "rows": split_rows(folder)}

# pyarrow's own writers: what datasets does not write but other tools do.
streams = {}


def write(name, table, file_format=False, **options):
    path = os.path.join(out, name + ".arrow")
    write_options = pa.ipc.IpcWriteOptions(**options)
    opener = pa.ipc.new_file if file_format else pa.ipc.new_stream
    with pa.OSFile(path, "wb") as sink, opener(sink, table.schema, options=write_options) as w:
        for batch in table.to_batches(max_chunksize=4):
            w.write_batch(batch)
    return path


awkward = pa.table(
    {
        "fixed": pa.array([[1, 2], None, [3, 4], [5, None], [7, 8]], pa.list_(pa.int16(), 2)),
        "large_list": pa.array([["a"], [], None, ["b", None, "c"], ["d"]], pa.large_list(pa.string())),
        "u8": pa.array([0, 255, None, 7, 128], pa.uint8()),
        "u32": pa.array([0, 2**32 - 1, 5, None, 9], pa.uint32()),
        "i16": pa.array([-(2**15), 2**15 - 1, None, 0, -1], pa.int16()),
        "deep": pa.array(
            [{"a": {"b": [1.5]}}, {"a": None}, None, {"a": {"b": []}}, {"a": {"b": None}}],
            pa.struct([("a", pa.struct([("b", pa.list_(pa.float32()))]))]),
        ),
    }
)
for name, table, kwargs in [
    ("awkward", awkward, {}),
    # Sliced arrays: offsets not starting at 0, bitmaps not starting at bit 0.
    ("sliced", pa.Table.from_pylist(rows[:11], schema=features.arrow_schema).slice(3, 7), {}),
    ("file_format", awkward, {"file_format": True}),
    ("legacy", awkward, {"use_legacy_format": True}),
    # A schema and the end marker, no record batch; then one batch of no rows.
    ("no_batches", awkward.slice(0, 0), {}),
]:
    path = write(name, table, **kwargs)
    streams[name] = {"path": path, "rows": read_rows(path)}

path = os.path.join(out, "empty_batch.arrow")
with pa.OSFile(path, "wb") as sink, pa.ipc.new_stream(sink, awkward.schema) as w:
    w.write_batch(awkward.to_batches()[0].slice(0, 0))
streams["empty_batch"] = {"path": path, "rows": read_rows(path)}

bad = {
    "dictionary": write(
        "dictionary",
        pa.table({"label": pa.array(["x", "y", "x"]).dictionary_encode()}),
    ),
    "timestamp": write(
        "timestamp", pa.table({"ok": [1], "when": pa.array([0], pa.timestamp("s"))})
    ),
    "nested_binary": write(
        "nested_binary",
        pa.table({"s": pa.array([{"blob": b"\x00"}], pa.struct([("blob", pa.binary())]))}),
    ),
    "compressed": write("compressed", pa.table({"s": ["a" * 100]}), compression="zstd"),
}
files = {path: read_rows(path) for path in sys.argv[2:]}
json.dump({"splits": splits, "streams": streams, "bad": bad, "files": files}, sys.stdout)

"""In-tree PEP 517 build backend for the ws101 Python binding.

It needs nothing from a package index (pyproject.toml has
``requires = []``), so ``python3 -m pip install ./bindings/python`` works
offline. It runs ``swig -python`` on bindings/ws101.i, compiles the
wrapper, the glue (ws101_pyglue.c) and the library's own C sources
(src/*/*.c, bundled statically: no installed libws101 is needed) with
``-fvisibility=hidden``, links libuv, OpenSSL, zlib and nghttp2 found with
pkg-config into ``ws101/_ws101<EXT_SUFFIX>``, and writes the wheel by hand
(zip + .dist-info METADATA, WHEEL, RECORD with sha256 hashes).

Environment:
  WS101_SOURCE_DIR   the libws101 source tree (default: ../.. from here, or
                     the copy vendored into an sdist)
  CC, CFLAGS, LDFLAGS  the usual
  WS101_BUILD_JOBS   parallel compiler jobs (default: CPU count)
  WS101_BUILD_VERBOSE=1  print every command
  WS101_EXTRA_SOURCES  extra C files to compile in (development stubs)

It can also be run directly for a development build:
  python3 _build/backend.py --inplace   # puts _ws101*.so into ./ws101/
"""

import base64
import concurrent.futures
import csv
import glob
import hashlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import zipfile

NAME = "ws101"
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # bindings/python
PKG_CONFIG_MODULES = ["libuv", "libssl", "libcrypto", "zlib", "libnghttp2"]


# ---------------------------------------------------------------------------
# Locating sources
# ---------------------------------------------------------------------------

def _source_root():
    env = os.environ.get("WS101_SOURCE_DIR")
    candidates = [env] if env else []
    candidates += [os.path.join(HERE, "_vendor"),
                   os.path.abspath(os.path.join(HERE, "..", ".."))]
    for root in candidates:
        if root and os.path.isfile(os.path.join(root, "include", "ws101.h")) \
                and os.path.isfile(os.path.join(root, "bindings", "ws101.i")):
            return root
    raise RuntimeError("ws101: cannot find the libws101 sources (include/ws101.h "
                       "and bindings/ws101.i); set WS101_SOURCE_DIR")


def _version(root=None):
    root = root or _source_root()
    text = open(os.path.join(root, "include", "ws101.h"), encoding="utf-8").read()
    parts = []
    for what in ("MAJOR", "MINOR", "PATCH"):
        m = re.search(r"#define\s+WS101_VERSION_%s\s+(\d+)" % what, text)
        parts.append(m.group(1) if m else "0")
    return ".".join(parts)


def _python_sources(root):
    """The bindings/python files of the build (glue C, package): always the
    folder this backend belongs to."""
    return HERE


# ---------------------------------------------------------------------------
# Compiling
# ---------------------------------------------------------------------------

def _run(cmd, cwd=None):
    if os.environ.get("WS101_BUILD_VERBOSE"):
        print("+ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        sys.stderr.write("+ " + " ".join(shlex.quote(c) for c in cmd) + "\n")
        sys.stderr.write(p.stdout)
        raise RuntimeError("ws101 build: command failed (exit %d): %s"
                           % (p.returncode, cmd[0]))
    return p.stdout


def _pkg_config(flag):
    exe = os.environ.get("PKG_CONFIG", "pkg-config")
    try:
        out = _run([exe, flag] + PKG_CONFIG_MODULES)
    except (OSError, RuntimeError):
        sys.stderr.write("ws101 build: pkg-config failed; install libuv1-dev "
                         "libssl-dev zlib1g-dev libnghttp2-dev pkg-config\n")
        if flag == "--libs":
            return ["-luv", "-lssl", "-lcrypto", "-lz", "-lnghttp2"]
        return []
    return shlex.split(out)


def _hiredis():
    """(cflags, libs) for the optional Redis backplane: hiredis with its
    libuv adapter, found by pkg-config as CMake does; ([], []) without it
    (then ws101_redis_attach returns WS101_ENOTSUP). WS101_REDIS=0 turns
    it off."""
    if os.environ.get("WS101_REDIS", "1") == "0":
        return [], []
    exe = os.environ.get("PKG_CONFIG", "pkg-config")

    def ask(flag):  # quiet: hiredis is optional
        p = subprocess.run([exe, flag, "hiredis"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
        if p.returncode != 0:
            raise RuntimeError(flag)
        return p.stdout
    try:
        inc = ask("--variable=includedir").strip()
        cflags = shlex.split(ask("--cflags"))
        libs = shlex.split(ask("--libs"))
    except (OSError, RuntimeError):
        return [], []
    if not any(os.path.isfile(os.path.join(inc, d, "adapters", "libuv.h"))
               for d in ("", "hiredis")):
        return [], []
    return cflags + ["-DWS101_HAVE_HIREDIS=1"], libs


def build_extension(out_dir, tmp_dir):
    """Builds ws101/_ws101<EXT_SUFFIX> into out_dir; returns its path."""
    root = _source_root()
    py = _python_sources(root)
    bindings = os.path.join(root, "bindings")
    include = os.path.join(root, "include")
    src = os.path.join(root, "src")
    swig = os.environ.get("SWIG", "swig")
    if shutil.which(swig) is None:
        raise RuntimeError("ws101 build: swig not found (apt-get install swig)")

    wrap_c = os.path.join(tmp_dir, "ws101_wrap.c")
    swig_inc = ["-I" + include, "-I" + bindings]
    _run([swig, "-python", "-noproxy", "-module", "_ws101"] + swig_inc +
         ["-o", wrap_c, os.path.join(bindings, "ws101.i")])

    cc = shlex.split(os.environ.get("CC", "cc"))
    pyinc = sysconfig.get_paths()["include"]
    cflags = ["-std=gnu11", "-O2", "-g", "-fPIC", "-fvisibility=hidden",
              "-D_POSIX_C_SOURCE=200809L", "-D_DEFAULT_SOURCE",
              "-Wall", "-Wno-unused-parameter", "-Wno-missing-field-initializers",
              "-I" + include, "-I" + src, "-I" + py, "-I" + pyinc]
    cflags += _pkg_config("--cflags")
    cflags += shlex.split(os.environ.get("CFLAGS", ""))
    # SWIG's wrapper and Python.h want the GNU/XOPEN feature set.
    wrapper_flags = [f for f in cflags if not f.startswith("-D_POSIX_C_SOURCE")]

    lib_sources = sorted(glob.glob(os.path.join(src, "*", "*.c")))
    if not lib_sources:
        raise RuntimeError("ws101 build: no C sources in " + src)
    lib_sources += shlex.split(os.environ.get("WS101_EXTRA_SOURCES", ""))
    redis_cflags, redis_libs = _hiredis()
    jobs = [(s, cflags + redis_cflags) for s in lib_sources]
    jobs += [(wrap_c, wrapper_flags)]
    # The glue: ws101_pyglue.c (callbacks, loop state), ws101_pytimer.c,
    # ws101_pystep.c (the asyncio driver's half in C).
    jobs += [(g, wrapper_flags)
             for g in sorted(glob.glob(os.path.join(py, "ws101_py*.c")))]

    def compile_one(job):
        source, flags = job
        obj = os.path.join(tmp_dir, "obj",
                           os.path.basename(os.path.dirname(source)) + "_" +
                           os.path.basename(source)[:-2] + ".o")
        _run(cc + flags + ["-c", source, "-o", obj])
        return obj

    os.makedirs(os.path.join(tmp_dir, "obj"), exist_ok=True)
    n = int(os.environ.get("WS101_BUILD_JOBS") or os.cpu_count() or 2)
    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as ex:
        objs = list(ex.map(compile_one, jobs))

    # Export only the module init function; the bundled library stays
    # private to this extension.
    vscript = os.path.join(tmp_dir, "ws101_python.map")
    with open(vscript, "w") as f:
        f.write("{ global: PyInit__ws101; local: *; };\n")
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    os.makedirs(out_dir, exist_ok=True)
    target = os.path.join(out_dir, "_ws101" + suffix)
    _run(cc + ["-shared", "-o", target] + objs +
         ["-Wl,--version-script=" + vscript] +
         shlex.split(os.environ.get("LDFLAGS", "")) +
         _pkg_config("--libs") + redis_libs + ["-lpthread"])
    return target


# ---------------------------------------------------------------------------
# Wheel writing
# ---------------------------------------------------------------------------

def _tag():
    impl = "cp" if sys.implementation.name == "cpython" else sys.implementation.name[:2]
    pyver = "%s%d%d" % (impl, sys.version_info[0], sys.version_info[1])
    abi = pyver + getattr(sys, "abiflags", "")
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return pyver, abi, plat


def _metadata(version):
    readme = os.path.join(HERE, "README.md")
    desc = open(readme, encoding="utf-8").read() if os.path.isfile(readme) else ""
    return ("Metadata-Version: 2.1\n"
            "Name: %s\n"
            "Version: %s\n"
            "Summary: Python binding of libws101: HTTP/1.1 and WebSocket "
            "server and client on libuv\n"
            "License: MIT\n"
            "Requires-Python: >=3.8\n"
            "Description-Content-Type: text/markdown\n"
            "\n%s" % (NAME, version, desc))


def _wheel_file(tag):
    return ("Wheel-Version: 1.0\n"
            "Generator: ws101-inplace-backend\n"
            "Root-Is-Purelib: false\n"
            "Tag: %s\n" % tag)


def _dist_info(version):
    return "%s-%s.dist-info" % (NAME, version)


def _package_files():
    """(archive name, path) of the pure-Python part of the package."""
    pkg = os.path.join(HERE, NAME)
    out = []
    for dirpath, dirnames, filenames in os.walk(pkg):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for fn in sorted(filenames):
            if fn.endswith((".py", ".pyi", ".typed")):
                full = os.path.join(dirpath, fn)
                out.append((os.path.relpath(full, HERE).replace(os.sep, "/"), full))
    return out


def _record_line(arcname, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return (arcname, "sha256=" + digest.decode("ascii"), str(len(data)))


def _write_wheel(wheel_directory, files, version):
    """files: list of (arcname, bytes). Returns the wheel's basename."""
    pyver, abi, plat = _tag()
    tag = "%s-%s-%s" % (pyver, abi, plat)
    dist_info = _dist_info(version)
    files = list(files)
    files.append((dist_info + "/METADATA", _metadata(version).encode("utf-8")))
    files.append((dist_info + "/WHEEL", _wheel_file(tag).encode("utf-8")))
    files.append((dist_info + "/top_level.txt", (NAME + "\n").encode()))
    record = io.StringIO()
    w = csv.writer(record, lineterminator="\n")
    for arcname, data in files:
        w.writerow(_record_line(arcname, data))
    w.writerow((dist_info + "/RECORD", "", ""))
    files.append((dist_info + "/RECORD", record.getvalue().encode("utf-8")))

    name = "%s-%s-%s.whl" % (NAME, version, tag)
    path = os.path.join(wheel_directory, name)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for arcname, data in files:
            zi = zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            mode = 0o755 if arcname.endswith(".so") else 0o644
            zi.external_attr = (0o100000 | mode) << 16
            zf.writestr(zi, data)
    return name


# ---------------------------------------------------------------------------
# PEP 517 hooks
# ---------------------------------------------------------------------------

def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    version = _version()
    d = os.path.join(metadata_directory, _dist_info(version))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "METADATA"), "w", encoding="utf-8") as f:
        f.write(_metadata(version))
    with open(os.path.join(d, "WHEEL"), "w", encoding="utf-8") as f:
        f.write(_wheel_file("-".join(_tag())))
    return os.path.basename(d)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    version = _version()
    tmp = tempfile.mkdtemp(prefix="ws101-build-")
    try:
        so = build_extension(os.path.join(tmp, "out"), tmp)
        files = [(arc, open(p, "rb").read()) for arc, p in _package_files()]
        files.append((NAME + "/" + os.path.basename(so), open(so, "rb").read()))
        return _write_wheel(wheel_directory, files, version)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def build_sdist(sdist_directory, config_settings=None):
    """A self-contained sdist: bindings/python plus the library sources
    vendored under _vendor/ (include/, src/, bindings/ws101.i)."""
    root = _source_root()
    version = _version(root)
    base = "%s-%s" % (NAME, version)
    name = base + ".tar.gz"
    path = os.path.join(sdist_directory, name)

    def skip(tarinfo):
        parts = tarinfo.name.split("/")
        if "__pycache__" in parts or tarinfo.name.endswith((".so", ".o", ".pyc")):
            return None
        if len(parts) > 1 and parts[1] in ("_vendor", "build", "dist"):
            return None
        return tarinfo

    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tf:
        tf.add(HERE, arcname=base, filter=skip)
        tf.add(os.path.join(root, "include"), arcname=base + "/_vendor/include")
        tf.add(os.path.join(root, "src"), arcname=base + "/_vendor/src",
               filter=lambda t: None if t.name.endswith(".o") else t)
        tf.add(os.path.join(root, "bindings", "ws101.i"),
               arcname=base + "/_vendor/bindings/ws101.i")
        tf.add(os.path.join(HERE, "ws101_python.i"),
               arcname=base + "/_vendor/bindings/python/ws101_python.i")
        pkg_info = _metadata(version).encode("utf-8")
        ti = tarfile.TarInfo(base + "/PKG-INFO")
        ti.size = len(pkg_info)
        ti.mtime = 1577836800
        tf.addfile(ti, io.BytesIO(pkg_info))
    return name


def main(argv):
    if argv[1:2] == ["--inplace"]:
        tmp = tempfile.mkdtemp(prefix="ws101-build-")
        try:
            so = build_extension(os.path.join(HERE, NAME), tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print(so)
        return 0
    if argv[1:2] == ["--wheel"]:
        out = argv[2] if len(argv) > 2 else os.path.join(HERE, "dist")
        os.makedirs(out, exist_ok=True)
        print(os.path.join(out, build_wheel(out)))
        return 0
    sys.stderr.write("usage: backend.py --inplace | --wheel [DIR]\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

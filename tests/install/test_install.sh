#!/usr/bin/env bash
# Install test (ctest install.pkgconfig): installs a build of libws101 into a
# temporary prefix and uses it the way a user would.
#
#   bash tests/install/test_install.sh BUILD_DIR [SOURCE_DIR]
#
# Environment: CC (default cc), WS101_EXTRA_CFLAGS (sanitizer flags of the
# build, so that programs linked to an instrumented library load its runtime),
# WS101_KEEP=1 keeps the prefix for inspection.
#
# Checks, each printed before it runs; the first failure stops the test with
# a message starting "FAIL:".
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
build="$(cd "${1:?usage: test_install.sh BUILD_DIR [SOURCE_DIR]}" && pwd)"
src="$(cd "${2:-$here/../..}" && pwd)"
cc="${CC:-cc}"
read -r -a extra <<<"${WS101_EXTRA_CFLAGS:-}"
expected_version="$(sed -n 's/^project(ws101 VERSION \([0-9.]*\).*/\1/p' \
  "$src/CMakeLists.txt")"

work="$(mktemp -d "${TMPDIR:-/tmp}/ws101-install.XXXXXX")"
cleanup() {
  if [ "${WS101_KEEP:-0}" = 1 ]; then
    echo "kept $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
prefix="$work/prefix"

step() { echo "--- $*"; }
ok() { echo "    ok: $*"; }
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

step "cmake --install $build --prefix $prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log" 2>&1 ||
  { cat "$work/install.log"; fail "cmake --install failed"; }
ok "$(grep -c 'Installing:' "$work/install.log") files installed"

step "installed files"
pc="$(find "$prefix" -name libws101.pc -path '*/pkgconfig/*' | head -n1)"
[ -n "$pc" ] || fail "no libws101.pc under $prefix"
pcdir="$(dirname "$pc")"
libdir="$(dirname "$pcdir")"
for f in "$prefix/include/ws101.h" "$libdir/libws101.so" \
  "$libdir/libws101.so.1" "$libdir/libws101.so.$expected_version" \
  "$libdir/libws101.a" "$libdir/cmake/ws101/ws101Config.cmake" \
  "$libdir/cmake/ws101/ws101ConfigVersion.cmake" \
  "$libdir/cmake/ws101/ws101Targets.cmake"; do
  [ -e "$f" ] || fail "missing $f"
  ok "${f#"$prefix"/}"
done
[ -L "$libdir/libws101.so" ] || fail "libws101.so is not a symlink"
[ -L "$libdir/libws101.so.1" ] || fail "libws101.so.1 is not a symlink"

for exe in ws101-demo ws101; do
  [ -x "$prefix/bin/$exe" ] || continue
  step "installed bin/$exe finds the installed library (rpath, no LD_LIBRARY_PATH)"
  found="$(env -u LD_LIBRARY_PATH ldd "$prefix/bin/$exe" | grep 'libws101\.so' || true)"
  case "$found" in
    *"=> $libdir/libws101.so.1 "* | *"=> $prefix/bin/../lib"*"/libws101.so.1 "*) ok "$found" ;;
    *) fail "bin/$exe resolves libws101 as: ${found:-nothing}" ;;
  esac
done

step "pkg-config modules libws101, ws101, libws101-static, ws101-static (PKG_CONFIG_PATH=$pcdir)"
export PKG_CONFIG_PATH="$pcdir"
for mod in libws101 ws101 libws101-static ws101-static; do
  [ -f "$pcdir/$mod.pc" ] || fail "missing $pcdir/$mod.pc"
  pcver="$(pkg-config --modversion "$mod")" || fail "pkg-config cannot read $mod.pc"
  [ "$pcver" = "$expected_version" ] ||
    fail "pkg-config $mod version $pcver, expected $expected_version"
  pkg-config --validate "$mod" || fail "$mod.pc does not validate"
  ok "$mod $pcver: $(pkg-config --cflags --libs "$mod")"
done
# The alias is the same module under the header's and the CLI's name.
for flags in "--cflags --libs" "--static --cflags --libs"; do
  # shellcheck disable=SC2086
  [ "$(pkg-config $flags libws101)" = "$(pkg-config $flags ws101)" ] ||
    fail "pkg-config $flags differs between libws101 and ws101"
done
ok "ws101 and libws101 give the same flags"
read -r -a pc_flags <<<"$(pkg-config --cflags --libs libws101)"
case " ${pc_flags[*]} " in
  *" -I$prefix/include "*) ;;
  *) fail "pkg-config --cflags does not point into the prefix" ;;
esac
case " $(pkg-config --libs ws101-static) " in
  *" $libdir/libws101.a "*) ;;
  *) fail "ws101-static does not link $libdir/libws101.a" ;;
esac

step "soname"
soname="$(readelf -d "$libdir/libws101.so.1" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')"
[ "$soname" = "libws101.so.1" ] || fail "SONAME is '$soname', expected libws101.so.1"
ok "SONAME $soname"

step "exported symbols (nm -D --defined-only libws101.so.1)"
# Only ws101_* functions, each @@WS101_<major>.0, exactly those the
# installed header declares (tests/abi/check_exports.py, also ctest
# abi.exports on the build tree).
python3 "$src/tests/abi/check_exports.py" "$libdir/libws101.so.1" \
  "$prefix/include/ws101.h" "WS101_${expected_version%%.*}.0" |
  sed 's/^/    /'
[ "${PIPESTATUS[0]}" -eq 0 ] || fail "the installed library exports the wrong symbols"

# A program using only the version API: it works whatever else is missing.
cat >"$work/version.c" <<'EOF'
#include <stdio.h>
#include <ws101.h>

int main(void) {
  printf("libws101 %s (0x%06x)\n", ws101_version_string(), ws101_version());
  if (ws101_version() != WS101_VERSION_HEX) {
    fprintf(stderr, "header/library mismatch\n");
    return 1;
  }
  return 0;
}
EOF

step "public header compiles alone as C99, C11 and C++ (-Wpedantic -Werror)"
for std in c99 c11; do
  "$cc" -std="$std" -Wall -Wextra -Wpedantic -Werror "-I$prefix/include" \
    -fsyntax-only "$work/version.c" || fail "ws101.h does not compile as $std"
  ok "$std"
done
if command -v c++ >/dev/null; then
  c++ -x c++ -std=c++11 -Wall -Wextra -Wpedantic -Werror "-I$prefix/include" \
    -fsyntax-only "$work/version.c" || fail "ws101.h does not compile as C++"
  ok "c++11"
fi

step "$cc version.c \$(pkg-config --cflags --libs libws101), shared"
"$cc" "${extra[@]}" -o "$work/version" "$work/version.c" "${pc_flags[@]}" ||
  fail "cannot build against the installed shared library"
out="$(LD_LIBRARY_PATH="$libdir" "$work/version")" || fail "version program failed"
echo "    $out"
[ "$out" = "libws101 $expected_version (0x$(printf '%06x' \
  "$(echo "$expected_version" | awk -F. '{ print $1 * 65536 + $2 * 256 + $3 }')"))" ] ||
  fail "unexpected output: $out"
ldd_line="$(LD_LIBRARY_PATH="$libdir" ldd "$work/version" | grep libws101 || true)"
case "$ldd_line" in
  *"$libdir/libws101.so.1"*) ok "loads $libdir/libws101.so.1" ;;
  *) fail "version program does not load the installed library: $ldd_line" ;;
esac

# The README's pkg-config recipes, exactly as written there (section
# "## pkg-config", lines "cc app.c $(pkg-config ...)"): a -static module must
# give a binary that does not load libws101.so, the others one that does.
step "the README's pkg-config recipes, with app.c = version.c"
cp "$work/version.c" "$work/app.c"
grep -E '^cc app\.c \$\(pkg-config [^)]*\)' "$src/README.md" |
  sed 's/ *#.*//' >"$work/recipes"
[ "$(wc -l <"$work/recipes")" -ge 2 ] || fail "README has no pkg-config recipes"
n=0
while IFS= read -r recipe; do
  n=$((n + 1))
  # shellcheck disable=SC2086
  # The recipes say `cc`; the build's compiler and flags stand in for it.
  (cd "$work" && eval "\"\$cc\" ${recipe#cc } ${extra[*]:-} -o recipe$n") ||
    fail "README recipe does not build: $recipe"
  loads="$(LD_LIBRARY_PATH="$libdir" ldd "$work/recipe$n" | grep libws101 || true)"
  case "$recipe" in
    *-static*)
      [ -z "$loads" ] || fail "'$recipe' is not static: it loads $loads"
      out="$("$work/recipe$n")" || fail "'$recipe': the program failed"
      ok "$recipe -> no libws101.so in ldd; $out" ;;
    *)
      case "$loads" in
        *"$libdir/libws101.so.1"*) ;;
        *) fail "'$recipe' does not load the installed libws101.so.1: $loads" ;;
      esac
      out="$(LD_LIBRARY_PATH="$libdir" "$work/recipe$n")" ||
        fail "'$recipe': the program failed"
      ok "$recipe -> $libdir/libws101.so.1; $out" ;;
  esac
done <"$work/recipes"
grep -q -- '-static' "$work/recipes" || fail "README has no static recipe"

# The examples, built against the install as a user builds them, started
# on a free port and asked for their page (tests/install/serve_and_get.py).
examples=()
[ -f "$src/examples/hello_echo.c" ] && examples+=(hello_echo)
[ -f "$src/examples/ws101_demo.c" ] && examples+=(ws101_demo)
[ "${#examples[@]}" -gt 0 ] || fail "no examples in $src/examples"
# run_example NAME BINARY: the server answers GET / with its page.
run_example() {
  case "$1" in
    hello_echo) LD_LIBRARY_PATH="$libdir" python3 "$here/serve_and_get.py" \
      / hello -- "$2" 0 ;;
    ws101_demo) LD_LIBRARY_PATH="$libdir" python3 "$here/serve_and_get.py" \
      / '<title>' -- "$2" --host 127.0.0.1 --port 0 ;;
  esac
}
# uses_libuv NAME: the example calls libuv itself (ws101_demo watches
# SIGINT/SIGTERM on the loop through ws101_loop_uv), so, like any such
# application, it names libuv beside ws101.
uses_libuv() { [ "$1" = ws101_demo ]; }
for ex in "${examples[@]}"; do
  ex_flags=("${pc_flags[@]}")
  if uses_libuv "$ex"; then
    # shellcheck disable=SC2207
    ex_flags+=($(pkg-config --cflags --libs libuv))
  fi
  step "$cc examples/$ex.c \$(pkg-config --cflags --libs ws101$(uses_libuv "$ex" && echo ' libuv')), then run it"
  "$cc" "${extra[@]}" -o "$work/$ex" "$src/examples/$ex.c" "${ex_flags[@]}" ||
    fail "examples/$ex.c does not build against the install with pkg-config"
  run_example "$ex" "$work/$ex" ||
    fail "examples/$ex.c built with pkg-config does not serve"
done

step "find_package(ws101 1.0) from a CMake project (CMAKE_PREFIX_PATH=$prefix)"
mkdir -p "$work/consumer"
cp "$work/version.c" "$work/consumer/version.c"
for ex in "${examples[@]}"; do cp "$src/examples/$ex.c" "$work/consumer/"; done
cat >"$work/consumer/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.16)
project(ws101_consumer LANGUAGES C)
find_package(ws101 1.0 REQUIRED)
message(STATUS "found ws101 \${ws101_VERSION} in \${ws101_DIR}")
if(NOT ws101_VERSION VERSION_EQUAL "$expected_version")
  message(FATAL_ERROR "find_package found ws101 \${ws101_VERSION}")
endif()
foreach(t ws101::ws101 ws101::ws101_static)
  if(NOT TARGET \${t})
    message(FATAL_ERROR "find_package(ws101) did not define \${t}")
  endif()
endforeach()
add_executable(use_shared version.c)
target_link_libraries(use_shared PRIVATE ws101::ws101)
add_executable(use_static version.c)
target_link_libraries(use_static PRIVATE ws101::ws101_static)
foreach(ex ${examples[*]})
  add_executable(\${ex} \${ex}.c)
  target_link_libraries(\${ex} PRIVATE ws101::ws101)
endforeach()
if(TARGET ws101_demo)
  # The demo calls libuv itself (signals on the loop), so it links libuv.
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(UV REQUIRED IMPORTED_TARGET libuv)
  target_link_libraries(ws101_demo PRIVATE PkgConfig::UV)
endif()
CMAKE
# cmake_consumer SOURCE_DIR BUILD_DIR LOG: configures a project against the
# prefix with the build's compiler and sanitizer flags.
cmake_consumer() {
  cmake -S "$1" -B "$2" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_C_FLAGS="${extra[*]:-}" -DCMAKE_EXE_LINKER_FLAGS="${extra[*]:-}" \
    >"$3" 2>&1
}
cmake_consumer "$work/consumer" "$work/consumer/build" "$work/consumer.log" ||
  { cat "$work/consumer.log"; fail "find_package(ws101 1.0) failed"; }
grep 'found ws101' "$work/consumer.log" | sed 's/^/    /'
cmake --build "$work/consumer/build" >>"$work/consumer.log" 2>&1 ||
  { cat "$work/consumer.log"; fail "building against ws101::ws101 / ws101_static failed"; }
LD_LIBRARY_PATH="$libdir" "$work/consumer/build/use_shared" | sed 's/^/    shared: /' ||
  fail "use_shared failed"
"$work/consumer/build/use_static" | sed 's/^/    static: /' || fail "use_static failed"
if ldd "$work/consumer/build/use_static" | grep -q libws101; then
  fail "ws101::ws101_static still loads libws101.so"
fi
ok "ws101::ws101 and ws101::ws101_static link and run"
for ex in "${examples[@]}"; do
  step "examples/$ex.c built with CMake against ws101::ws101, then run"
  run_example "$ex" "$work/consumer/build/$ex" ||
    fail "examples/$ex.c built with find_package does not serve"
done

# SameMajorVersion: any 1.x satisfies a request for 1.0 (above); a request
# for another major version is refused by ws101ConfigVersion.cmake.
for want in 2.0 0.1; do
  step "find_package(ws101 $want) must fail against $expected_version"
  mkdir -p "$work/want-$want"
  printf '%s\n' 'cmake_minimum_required(VERSION 3.16)' \
    'project(ws101_want LANGUAGES C)' "find_package(ws101 $want REQUIRED)" \
    >"$work/want-$want/CMakeLists.txt"
  if cmake_consumer "$work/want-$want" "$work/want-$want/build" \
    "$work/want-$want.log"; then
    cat "$work/want-$want.log"
    fail "find_package(ws101 $want) accepted ws101 $expected_version"
  fi
  # CMake lists the config it found and did not accept (its version).
  grep -q "ws101Config.cmake, version: $expected_version" "$work/want-$want.log" ||
    { cat "$work/want-$want.log"; fail "find_package(ws101 $want) failed for another reason"; }
  ok "refused: no configuration compatible with $want (found $expected_version)"
done

echo "install test: all checks passed"

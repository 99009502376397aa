#!/bin/sh
# Regenerate kernel-patches/pgo-bisect and pgo-bisect-flaky (the bisect fixtures) from a
# tree that has the pgo-clang series applied (tag pgo-clang/0007), e.g. pgo-orch's default
# tree: sh kernel-patches/make-bisect-fixtures.sh ~/.cache/pgo-orch/trees/linux-source-6.1+pgo-clang
#
# 16 commits on the PGO tip. 15 are harmless one-line comment edits in kernel/pgo/ (each
# rebuilds one small object and relinks vmlinux); commit 09 brings the prf_open() bug:
#   pgo-bisect:       pgo-fixtures/0001's change (vzalloc() under pgo_lock on every open)
#   pgo-bisect-flaky: vzalloc() under pgo_lock on one open in three (get_random_u32())
set -eu
tree=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
export GIT_AUTHOR_NAME="PGO Dev" GIT_AUTHOR_EMAIL="pgo-dev@example.invalid"
export GIT_COMMITTER_NAME="PGO Dev" GIT_COMMITTER_EMAIL="pgo-dev@example.invalid"
export GIT_AUTHOR_DATE="2026-11-30T00:00:00+0000" GIT_COMMITTER_DATE="2026-11-30T00:00:00+0000"

gen() {  # gen SERIES FLAKY
    series=$1 flaky=$2
    tmp=$(mktemp -d)
    git clone -q --shared --no-checkout "$tree" "$tmp/w"
    cd "$tmp/w"
    git sparse-checkout set --no-cone /kernel/pgo/
    git checkout -q -b work pgo-clang/0007
    files="core.c instrument.c fs.c"
    i=1
    while [ $i -le 16 ]; do
        n=$(printf %02d $i)
        if [ $i -eq 9 ]; then
            if [ "$flaky" = yes ]; then
                # the allocation in prf_open()'s loop goes under pgo_lock one time in three
                python3 - kernel/pgo/fs.c <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
old = "\tfor (;;) {\n\t\tbuffer = vzalloc(size);\n"
new = ("\tfor (;;) {\n"
       "\t\tbool locked = get_random_u32() % 3 == 0;\n\n"
       "\t\tif (locked)\n\t\t\tprf_lock(flags);\n"
       "\t\tbuffer = vzalloc(size);\n"
       "\t\tif (locked)\n\t\t\tprf_unlock(flags);\n")
assert old in s
s = s.replace(old, new).replace("#include <linux/kernel.h>\n",
                                "#include <linux/kernel.h>\n#include <linux/random.h>\n")
open(p, "w").write(s)
PY
                subject="pgo: bisect fixture $n/16: allocate under pgo_lock on one open in three"
                body="Flaky regression fixture: one prf_open() in three calls vzalloc() with
pgo_lock held (interrupts off), so with CONFIG_DEBUG_ATOMIC_SLEEP about
one open in three reports a sleeping function called from invalid
context in prf_open."
            else
                sed -n '/^diff --git/,$p' "$here/pgo-fixtures/0001-"*.patch | git apply
                subject="pgo: bisect fixture $n/16: allocate the profile buffer under pgo_lock"
                body="Regression fixture (pgo-fixtures/0001's change): prf_open() sizes,
allocates and serializes in one pgo_lock section, so every open reports
a sleeping function called from invalid context in prf_open."
            fi
        else
            f=$(echo $files | cut -d' ' -f$(( (i - 1) % 3 + 1 )))
            # one comment line after the SPDX line: shifts line numbers, changes no code
            sed -i "2i /* bisect fixture note $n: a harmless comment edit. */" "kernel/pgo/$f"
            subject="pgo: bisect fixture $n/16: comment in $f"
            body="Harmless step of the bisect fixture history: a comment only."
        fi
        git add -u kernel/pgo
        git commit -q -m "$subject" -m "$body" -m "Signed-off-by: PGO Dev <pgo-dev@example.invalid>"
        i=$((i + 1))
    done
    rm -f "$here/$series/"*.patch
    git format-patch -q --no-signature --zero-commit -o "$here/$series" pgo-clang/0007..work
    cd /
    rm -rf "$tmp"
}
gen pgo-bisect no
gen pgo-bisect-flaky yes

"""Checks the layering rules of DESIGN.md §3 that the compiler does not: no two source files
import each other, and `source` / `bronze` import neither `silver` nor `catalog`. Reads `use`
paths as text (crate::, super::, self::, and a mod.rs's own children); doc comments and
`#[cfg(test)]` modules are not imports. Exits 1 with the offending pairs.

usage: python3 scripts/check_imports.py
"""
import os
import re
import subprocess
import sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..') + '/'
files=subprocess.check_output(['git','ls-files','src/*.rs'],cwd=root).decode().split()
files+= [l for l in subprocess.check_output(['git','ls-files','--others','--exclude-standard','src'],cwd=root).decode().split() if l.endswith('.rs')]
def modpath(f):
    p=f[len('src/'):-3].split('/')
    if p[-1] in('mod','lib','main'): p=p[:-1]
    return p
mods={tuple(modpath(f)):f for f in files}
deps={}
for f in files:
    s=open(root+f).read().split('#[cfg(test)]')[0]
    s='\n'.join(l for l in s.splitlines() if not l.strip().startswith('//'))
    me=modpath(f); is_mod=f.endswith('mod.rs') or f.endswith('lib.rs')
    out=set()
    parent = me if is_mod else me[:-1]
    refs=[m.group(1) for m in re.finditer(r'(?<![\w:])((?:crate|super|self|\w+)(?:::\w+)+)',s)]
    for m in re.finditer(r'(?<![\w:])((?:crate|super|self)(?:::\w+)*)::\{([^}]*)\}',s):
        for item in m.group(2).split(','):
            w=item.strip().split('::')[0].split(' ')[0]
            if w and w!='self': refs.append(m.group(1)+'::'+w)
    for r in refs:
        parts=r.split('::')
        if parts[0]=='crate': path=parts[1:]
        elif parts[0]=='super': path=(me[:-1] if is_mod else parent[:-1]) + parts[1:] if False else (parent[:-1] if is_mod else parent)+parts[1:]
        elif parts[0]=='self': path=(me if is_mod else me)+parts[1:]
        elif is_mod and tuple(me+[parts[0]]) in mods: path=me+parts
        else: continue
        for k in range(len(path),0,-1):
            if tuple(path[:k]) in mods:
                t=mods[tuple(path[:k])]
                if t!=f: out.add(t)
                break
    deps[f]=out
pairs=sorted({tuple(sorted((a,b))) for a in deps for b in deps[a] if a in deps.get(b,())})
bad = [f"{a} and {b} import each other" for a, b in pairs]
for f, targets in sorted(deps.items()):
    if f.startswith(('src/source/', 'src/bronze/')):
        for t in sorted(targets):
            if t.startswith(('src/silver/', 'src/catalog/')):
                bad.append(f"{f} imports {t}: source and bronze never import silver or catalog")
for line in bad:
    print(line)
print(f"import rules: {len(files)} files, {len(bad)} problem(s)")
sys.exit(1 if bad else 0)

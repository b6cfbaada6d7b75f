#!/usr/bin/env python3
# cbox run --forward=none -- true with --network=on (the default), on with
# a helper per run (network-keep=0), off and host, alternating run by run
# (N rounds of the four), from a build tree:
# bench/network-modes.py [TREE] (default: the tree this script is in).
# Prints the median and minimum wall time of each mode and the ratios the
# network issue's goal is stated in (on/off, on/host). Alternating run by
# run keeps a machine whose speed drifts (other builds) from favouring one
# mode, which hyperfine's one-command-after-the-other cannot.
import subprocess, time, statistics, os, sys
T=os.path.abspath(sys.argv[1] if len(sys.argv)>1 else os.path.join(os.path.dirname(__file__), '..'))
env=dict(os.environ, CBOX_PLUGIN_PATH=':'.join(os.path.join(T,'build/plugins',d) for d in os.listdir(T+'/build/plugins')), CBOX_DATA_DIR=T+'/data', CBOX_LIBEXEC_DIR=T+'/build/core')
# on: the project's shared network (the default); on-own: a namespace and
# helper per run (network-keep=0).
modes={'on':[], 'on-own':['--set=cbox.network-keep=0'], 'off':['--network=off'], 'host':['--network=host']}
res={m:[] for m in modes}
N=int(os.environ.get('N','30'))
for i in range(N):
    for m,a in modes.items():
        t=time.monotonic(); subprocess.run([T+'/build/core/cbox','run','--forward=none',*a,'--','true'],env=env,check=True); res[m].append((time.monotonic()-t)*1000)
for m in modes: print(m, 'median %.1f min %.1f'%(statistics.median(res[m]),min(res[m])))
med={m:statistics.median(res[m]) for m in modes}
print('on/off %.2f on/host %.2f on-own/off %.2f on-own/host %.2f'%(med['on']/med['off'], med['on']/med['host'], med['on-own']/med['off'], med['on-own']/med['host']))

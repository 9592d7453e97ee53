#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Writes the synthetic hwloc XML fixtures of tests/topology/ (the guest-*.xml files are real
# exports from scripts/hmat-vm: `lstopo-no-graphics --of xml`).  Each machine is described
# compactly below; memory attributes are given per initiator package, as HMAT would.
#   python3 tests/topology/make_fixtures.py   (rewrites the files next to it)
import os

GiB = 1 << 30
HERE = os.path.dirname(os.path.abspath(__file__))


def mask(bits):
    v = 0
    for b in bits:
        v |= 1 << b
    return "0x%08x" % v


def machine(name, packages, distances=None, pus_per_package=2):
    """packages: list of lists of nodes; node = dict(id, cap, subtype?, attrs={pkg: (rbw, wbw, rlat, wlat)})."""
    gp = [100]

    def gpi():
        gp[0] += 1
        return gp[0]

    all_pus = list(range(len(packages) * pus_per_package))
    all_nodes = [n["id"] for p in packages for n in p]
    out = ['<?xml version="1.0" encoding="UTF-8"?>', '<!DOCTYPE topology SYSTEM "hwloc2.dtd">', '<topology version="2.0">']
    out.append(f'  <object type="Machine" os_index="0" cpuset="{mask(all_pus)}" complete_cpuset="{mask(all_pus)}" '
               f'allowed_cpuset="{mask(all_pus)}" nodeset="{mask(all_nodes)}" complete_nodeset="{mask(all_nodes)}" '
               f'allowed_nodeset="{mask(all_nodes)}" gp_index="1">')
    node_gp = {}
    for pi, nodes in enumerate(packages):
        pus = list(range(pi * pus_per_package, (pi + 1) * pus_per_package))
        ns = [n["id"] for n in nodes]
        out.append(f'    <object type="Package" os_index="{pi}" cpuset="{mask(pus)}" complete_cpuset="{mask(pus)}" '
                   f'nodeset="{mask(ns)}" complete_nodeset="{mask(ns)}" gp_index="{gpi()}">')
        for n in nodes:  # memory children: the first one is the CPUs' local DRAM
            g = gpi()
            node_gp[n["id"]] = g
            sub = f' subtype="{n["subtype"]}"' if n.get("subtype") else ""
            out.append(f'      <object type="NUMANode" os_index="{n["id"]}" cpuset="{mask(pus)}" complete_cpuset="{mask(pus)}" '
                       f'nodeset="{mask([n["id"]])}" complete_nodeset="{mask([n["id"]])}" gp_index="{g}"{sub} '
                       f'local_memory="{n["cap"]}"/>')
        for pu in pus:
            out.append(f'      <object type="Core" os_index="{pu}" cpuset="{mask([pu])}" complete_cpuset="{mask([pu])}" '
                       f'nodeset="{mask(ns)}" complete_nodeset="{mask(ns)}" gp_index="{gpi()}">')
            out.append(f'        <object type="PU" os_index="{pu}" cpuset="{mask([pu])}" complete_cpuset="{mask([pu])}" '
                       f'nodeset="{mask(ns)}" complete_nodeset="{mask(ns)}" gp_index="{gpi()}"/>')
            out.append('      </object>')
        out.append('    </object>')
    out.append('  </object>')
    if distances:
        ids = sorted(all_nodes)
        vals = " ".join(str(distances[i][j]) for i in range(len(ids)) for j in range(len(ids)))
        out.append(f'  <distances2 type="NUMANode" nbobjs="{len(ids)}" kind="5" name="NUMALatency" indexing="os">')
        out.append(f'    <indexes length="{len(" ".join(map(str, ids))) + 1}">{" ".join(map(str, ids))} </indexes>')
        out.append(f'    <u64values length="{len(vals) + 1}">{vals} </u64values>')
        out.append('  </distances2>')
    attrs = [("Bandwidth", 5, lambda a: (a[0] + a[1]) // 2), ("Latency", 6, lambda a: (a[2] + a[3]) // 2),
             ("ReadBandwidth", 5, lambda a: a[0]), ("WriteBandwidth", 5, lambda a: a[1]),
             ("ReadLatency", 6, lambda a: a[2]), ("WriteLatency", 6, lambda a: a[3])]
    for aname, flags, f in attrs:
        rows = []
        for pi, nodes in enumerate(packages):
            for n in nodes:
                for ini, a in n.get("attrs", {}).items():
                    pus = list(range(ini * pus_per_package, (ini + 1) * pus_per_package))
                    rows.append(f'    <memattr_value target_obj_type="NUMANode" target_obj_gp_index="{node_gp[n["id"]]}" '
                                f'value="{f(a)}" initiator_cpuset="{mask(pus)}"/>')
        if rows:
            out.append(f'  <memattr name="{aname}" flags="{flags}">')
            out += rows
            out.append('  </memattr>')
    out.append('</topology>')
    with open(os.path.join(HERE, name), "w") as fh:
        fh.write("\n".join(out) + "\n")


DRAM = (102400, 81920, 90, 100)
machine("dram-hbm.xml", [[dict(id=0, cap=64 * GiB, attrs={0: DRAM}),
                          dict(id=1, cap=16 * GiB, attrs={0: (409600, 307200, 110, 120)})]])
machine("dram-cxl.xml", [[dict(id=0, cap=64 * GiB, attrs={0: DRAM}),
                          dict(id=1, cap=256 * GiB, attrs={0: (30720, 25600, 250, 300)})]])
machine("dram-pmem.xml", [[dict(id=0, cap=64 * GiB, attrs={0: DRAM}),
                           dict(id=1, cap=512 * GiB, subtype="NVM", attrs={0: (8192, 3072, 350, 500)})]])
# Two sockets, each with local DRAM (nodes 0, 1) and local HBM (nodes 2, 3).
REMOTE_DRAM, LOCAL_HBM, REMOTE_HBM = (51200, 40960, 140, 150), (409600, 307200, 110, 120), (61440, 51200, 200, 210)
machine("two-socket-dram-hbm.xml", [
    [dict(id=0, cap=64 * GiB, attrs={0: DRAM, 1: REMOTE_DRAM}),
     dict(id=2, cap=16 * GiB, attrs={0: LOCAL_HBM, 1: REMOTE_HBM})],
    [dict(id=1, cap=64 * GiB, attrs={1: DRAM, 0: REMOTE_DRAM}),
     dict(id=3, cap=16 * GiB, attrs={1: LOCAL_HBM, 0: REMOTE_HBM})]],
    distances=[[10, 21, 13, 23], [21, 10, 23, 13], [13, 23, 10, 25], [23, 13, 25, 10]])
# No HMAT at all: only capacity and SLIT distance.
machine("no-hmat.xml", [[dict(id=0, cap=64 * GiB), dict(id=1, cap=256 * GiB)]],
        distances=[[10, 20], [20, 10]])
# Two memory-only nodes equal in every figure, and a capacity tie between DRAM and one of them.
machine("ties.xml", [[dict(id=0, cap=32 * GiB, attrs={0: DRAM}),
                      dict(id=1, cap=32 * GiB, attrs={0: (204800, 163840, 150, 160)}),
                      dict(id=2, cap=32 * GiB, attrs={0: (204800, 163840, 150, 160)})]])

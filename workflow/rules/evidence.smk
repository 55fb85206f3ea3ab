# Published evidence: the finished tree's figures, tables, claims and times as small files in
# config `evidence_docs` (docs/evidence/). A target of its own, not part of `all`:
#   snakemake --cores 2 evidence_docs --configfile presets/evidence.yaml
import sys

EVIDENCE_DOCS = config["evidence_docs"].rstrip("/")
# benchmarks/cleanrl_compare.py's output in this tree, published when it is there
CLEANRL_COMPARISON = [
    f"{TREE.cleanrl}/comparison.{ext}"
    for ext in ("md", "json")
    if os.path.exists(f"{TREE.cleanrl}/comparison.md")
]


rule evidence_docs:
    input:
        all_targets(),  # every rule of the DAG has run: its figures, tables and benchmarks
        CLEANRL_COMPARISON,
    output:
        TREE.evidence_record,
    log:
        TREE.log("evidence_docs"),
    benchmark:
        TREE.benchmark("evidence_docs")
    localrule: True
    threads: 1
    resources:
        mem_mb=500,
        gpu=0,
    params:
        results=tree_param(lambda w: TREE.root),
        out=shlex.quote(EVIDENCE_DOCS),
        # the command line of this Snakemake run, for the page
        command=shlex.quote(shlex.join(["snakemake", *sys.argv[1:]])),
    shell:
        "python -m a2d.results.evidence_docs --results {params.results} --out {params.out}"
        " --command {params.command} --record {output:q} > {log:q} 2>&1"

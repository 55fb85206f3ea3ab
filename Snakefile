# a2d: Auto-Agent-Distiller — the paper's pipeline as one Snakemake DAG.
#   snakemake -n                                   # the paper-scale DAG (config.yaml)
#   snakemake --cores 2 --configfile presets/quick.yaml
#   snakemake results/figures/fig3.pdf --cores 8   # one target, only what it needs
#   snakemake --cores 2 evidence_docs --configfile presets/evidence.yaml   # docs/evidence/
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/search.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/deploy.smk"
include: "workflow/rules/evidence.smk"


rule all:
    default_target: True
    input:
        all_targets(),

# Figures and tables: read results files only, never run an agent.


rule fig1:
    input:
        curves=sweep_runs("curve.csv"),
        models=sweep_runs("model.json"),
        random=[f"{RESULTS}/random/{g}.json" for g in FIGURE_GAMES],
    output:
        pdf=report(
            f"{RESULTS}/figures/fig1.pdf",
            caption="../report/fig1.rst",
            category="Figures",
            labels={"figure": "Fig 1", "format": "pdf"},
        ),
        png=report(
            f"{RESULTS}/figures/fig1.png",
            caption="../report/fig1.rst",
            category="Figures",
            labels={"figure": "Fig 1", "format": "png"},
        ),
    conda:
        "../envs/a2d.yaml"
    log:
        f"{RESULTS}/logs/figures/fig1.log",
    benchmark:
        f"{RESULTS}/benchmarks/figures/fig1.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=1000,
        gpu=0,
    params:
        games=" ".join(FIGURE_GAMES),
        archs=" ".join(SWEEP_ARCHS),
        seeds=" ".join(str(s) for s in SEEDS),
        # runs/{game}/{arch}/seed{seed}/curve.csv -> runs
        runs=lambda w, input: os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(input.curves[0])))),
        random=lambda w, input: os.path.dirname(input.random[0]),
    shell:
        "python -m a2d.results.fig1 --runs {params.runs} --random {params.random}"
        " --games {params.games} --archs {params.archs} --seeds {params.seeds}"
        " --pdf {output.pdf} --png {output.png} > {log} 2>&1"

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


rule fig2:
    input:
        curves=search_files("search_curve.csv", FIGURE_GAMES, FIG2_METHODS),
    output:
        pdf=report(
            f"{RESULTS}/figures/fig2.pdf",
            caption="../report/fig2.rst",
            category="Figures",
            labels={"figure": "Fig 2", "format": "pdf"},
        ),
        png=report(
            f"{RESULTS}/figures/fig2.png",
            caption="../report/fig2.rst",
            category="Figures",
            labels={"figure": "Fig 2", "format": "png"},
        ),
    conda:
        "../envs/a2d.yaml"
    log:
        f"{RESULTS}/logs/figures/fig2.log",
    benchmark:
        f"{RESULTS}/benchmarks/figures/fig2.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=1000,
        gpu=0,
    params:
        search=lambda w, input: _root(input.curves[0], 3),
        games=" ".join(FIGURE_GAMES),
        methods=" ".join(FIG2_METHODS),
        seeds=" ".join(str(s) for s in SEEDS),
    shell:
        "python -m a2d.results.fig2 --search {params.search} --games {params.games}"
        " --methods {params.methods} --seeds {params.seeds}"
        " --pdf {output.pdf} --png {output.png} > {log} 2>&1"


rule table2:
    input:
        archs=search_files("arch.json", FIGURE_GAMES, ABLATION_METHODS),
        search_evals=search_files("eval.json", FIGURE_GAMES, ABLATION_METHODS),
        retrained=retrained("eval.json", FIGURE_GAMES, ABLATION_METHODS),
    output:
        **_table_outputs("table2"),
    conda:
        "../envs/a2d.yaml"
    log:
        f"{RESULTS}/logs/tables/table2.log",
    benchmark:
        f"{RESULTS}/benchmarks/tables/table2.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=500,
        gpu=0,
    params:
        search=lambda w, input: _root(input.archs[0], 3),
        runs=lambda w, input: _root(input.retrained[0], 3),
        games=" ".join(FIGURE_GAMES),
        methods=" ".join(ABLATION_METHODS),
        labels=" ".join(
            "+".join(n for n, c in (("actor", METHODS[m].actor), ("critic", METHODS[m].critic)) if c > 0)
            or "none"
            for m in ABLATION_METHODS
        ),
        seeds=" ".join(str(s) for s in SEEDS),
        prefix=lambda w, output: output.md[: -len(".md")],
    shell:
        "python -m a2d.results.tables table2 --search {params.search} --runs {params.runs}"
        " --games {params.games} --methods {params.methods} --labels {params.labels}"
        " --seeds {params.seeds} --out {params.prefix} > {log} 2>&1"


rule table3:
    input:
        archs=search_files("arch.json", FIGURE_GAMES, FIG2_METHODS),
        search_evals=search_files("eval.json", FIGURE_GAMES, FIG2_METHODS),
        retrained=retrained("eval.json", FIGURE_GAMES, FIG2_METHODS),
    output:
        **_table_outputs("table3"),
    conda:
        "../envs/a2d.yaml"
    log:
        f"{RESULTS}/logs/tables/table3.log",
    benchmark:
        f"{RESULTS}/benchmarks/tables/table3.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=500,
        gpu=0,
    params:
        search=lambda w, input: _root(input.archs[0], 3),
        runs=lambda w, input: _root(input.retrained[0], 3),
        games=" ".join(FIGURE_GAMES),
        methods=" ".join(FIG2_METHODS),
        seeds=" ".join(str(s) for s in SEEDS),
        prefix=lambda w, output: output.md[: -len(".md")],
    shell:
        "python -m a2d.results.tables table3 --search {params.search} --runs {params.runs}"
        " --games {params.games} --methods {params.methods}"
        " --seeds {params.seeds} --out {params.prefix} > {log} 2>&1"


rule table4:
    input:
        archs=search_files("arch.json", GAMES, [MAIN_METHOD]),
        cards=exports("agent.onnx.json", GAMES, [MAIN_METHOD]),
    output:
        **_table_outputs("table4"),
    conda:
        "../envs/a2d.yaml"
    log:
        f"{RESULTS}/logs/tables/table4.log",
    benchmark:
        f"{RESULTS}/benchmarks/tables/table4.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=500,
        gpu=0,
    params:
        search=lambda w, input: _root(input.archs[0], 3),
        games=" ".join(GAMES),
        exports=lambda w, input: _root(input.cards[0], 3),
        method=MAIN_METHOD,
        seeds=" ".join(str(s) for s in SEEDS),
        prefix=lambda w, output: output.md[: -len(".md")],
    shell:
        "python -m a2d.results.tables table4 --search {params.search} --exports {params.exports}"
        " --games {params.games} --method {params.method}"
        " --seeds {params.seeds} --out {params.prefix} > {log} 2>&1"


rule fig3:
    input:
        baselines=baseline_runs("eval.json"),
        a2d=retrained("eval.json", GAMES, [MAIN_METHOD]),
        random=[f"{RESULTS}/random/{g}.json" for g in GAMES],
    output:
        **_figure_outputs("fig3", "Fig 3"),
    conda:
        "../envs/a2d.yaml"
    log:
        f"{RESULTS}/logs/figures/fig3.log",
    benchmark:
        f"{RESULTS}/benchmarks/figures/fig3.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=1000,
        gpu=0,
    params:
        runs=lambda w, input: _root(input.a2d[0], 3),
        random=lambda w, input: os.path.dirname(input.random[0]),
        games=" ".join(GAMES),
        archs=" ".join(BASELINES),
        method=MAIN_METHOD,
        seeds=" ".join(str(s) for s in SEEDS),
    shell:
        "python -m a2d.results.fig3 --runs {params.runs} --random {params.random}"
        " --games {params.games} --archs {params.archs} --method {params.method}"
        " --seeds {params.seeds} --pdf {output.pdf} --png {output.png} > {log} 2>&1"


rule table1:
    input:
        baselines=baseline_runs("eval.json"),
        a2d=retrained("eval.json", GAMES, [MAIN_METHOD]),
    output:
        **_table_outputs("table1"),
    conda:
        "../envs/a2d.yaml"
    log:
        f"{RESULTS}/logs/tables/table1.log",
    benchmark:
        f"{RESULTS}/benchmarks/tables/table1.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=500,
        gpu=0,
    params:
        runs=lambda w, input: _root(input.a2d[0], 3),
        games=" ".join(GAMES),
        archs=" ".join(BASELINES),
        method=MAIN_METHOD,
        seeds=" ".join(str(s) for s in SEEDS),
        prefix=lambda w, output: output.md[: -len(".md")],
    shell:
        "python -m a2d.results.tables table1 --runs {params.runs} --games {params.games}"
        " --archs {params.archs} --method {params.method} --seeds {params.seeds}"
        " --out {params.prefix} > {log} 2>&1"


rule aggregate:
    input:
        baselines=baseline_runs("eval.json"),
        a2d=retrained("eval.json", GAMES, [MAIN_METHOD]),
    output:
        **_figure_outputs("aggregate", "Aggregate"),
        **_table_outputs("aggregate"),
    conda:
        "../envs/a2d.yaml"
    log:
        f"{RESULTS}/logs/figures/aggregate.log",
    benchmark:
        f"{RESULTS}/benchmarks/figures/aggregate.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=1000,
        gpu=0,
    params:
        runs=lambda w, input: _root(input.a2d[0], 3),
        games=" ".join(GAMES),
        archs=" ".join(BASELINES),
        method=MAIN_METHOD,
        seeds=" ".join(str(s) for s in SEEDS),
        prefix=lambda w, output: output.md[: -len(".md")],
    shell:
        "python -m a2d.results.aggregate --runs {params.runs} --games {params.games}"
        " --archs {params.archs} --method {params.method} --seeds {params.seeds}"
        " --pdf {output.pdf} --png {output.png} --out {params.prefix} > {log} 2>&1"


rule config_used:
    output:
        report(
            f"{RESULTS}/config.yaml",
            caption="../report/config.rst",
            category="Config",
            labels={"file": "config used"},
        ),
    conda:
        "../envs/a2d.yaml"
    log:
        f"{RESULTS}/logs/config_used.log",
    benchmark:
        f"{RESULTS}/benchmarks/config_used.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=200,
        gpu=0,
    params:
        # the merged config (config.yaml + presets + --config): a change reruns this rule
        cfg=json.dumps(config, sort_keys=True),
    shell:
        "python -m a2d.results.config_dump --json {params.cfg:q} --out {output} > {log} 2>&1"

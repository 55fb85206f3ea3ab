# Figures and tables: read results files only, never run an agent.


KD_FLAGS = (" --kd" if kd_runs("eval.json") else "") + (
    " --nokd" if scratch_runs("eval.json", GAMES, [MAIN_METHOD]) else ""
)
STEPS_JSON = PIPELINE_STEPS_JSON
# claim (b): the search without distillation searched on the figure games, if any
VANILLA_METHOD = next(
    (m for m in FIG2_METHODS + ABLATION_METHODS if METHODS[m].actor == 0 == METHODS[m].critic),
    None,
)
CLAIM_B_METHODS = [MAIN_METHOD] + ([VANILLA_METHOD] if VANILLA_METHOD else [])


# the rliable rule's figures, keyed `{name}_pdf`, `{name}_png`
RLIABLE_FIGURES = {
    f"{name}_{ext}": path
    for name, label in (
        ("profile", "Performance profiles"),
        ("poi", "Probability of improvement"),
        ("sample_efficiency", "IQM sample efficiency"),
    )
    for ext, path in _figure_outputs(name, label).items()
}


rule fig1:
    input:
        curves=sweep_runs("curve.csv"),
        models=sweep_runs("model.json"),
        random=random_scores(FIGURE_GAMES),
    output:
        **_figure_outputs("fig1", "Fig 1"),
    log:
        TREE.log("figures", "fig1"),
    benchmark:
        TREE.benchmark("figures", "fig1")
    localrule: True
    threads: 1
    resources:
        mem_mb=1000,
        gpu=0,
    params:
        games=" ".join(FIGURE_GAMES),
        archs=" ".join(SWEEP_ARCHS),
        seeds=" ".join(str(s) for s in SEEDS),
        runs=tree_param(lambda w: TREE.runs),
        random=tree_param(lambda w: TREE.random),
    shell:
        "python -m a2d.results.fig1 --runs {params.runs} --random {params.random}"
        " --games {params.games} --archs {params.archs} --seeds {params.seeds}"
        " --pdf {output.pdf:q} --png {output.png:q} > {log:q} 2>&1"


rule fig2:
    input:
        curves=search_files("search_curve.csv", FIGURE_GAMES, FIG2_METHODS),
    output:
        **_figure_outputs("fig2", "Fig 2"),
    log:
        TREE.log("figures", "fig2"),
    benchmark:
        TREE.benchmark("figures", "fig2")
    localrule: True
    threads: 1
    resources:
        mem_mb=1000,
        gpu=0,
    params:
        search=tree_param(lambda w: TREE.search),
        games=" ".join(FIGURE_GAMES),
        methods=" ".join(FIG2_METHODS),
        seeds=" ".join(str(s) for s in SEEDS),
    shell:
        "python -m a2d.results.fig2 --search {params.search} --games {params.games}"
        " --methods {params.methods} --seeds {params.seeds}"
        " --pdf {output.pdf:q} --png {output.png:q} > {log:q} 2>&1"


rule table2:
    input:
        archs=search_files("arch.json", FIGURE_GAMES, ABLATION_METHODS),
        search_evals=search_files("eval.json", FIGURE_GAMES, ABLATION_METHODS),
        retrained=retrained("eval.json", FIGURE_GAMES, ABLATION_METHODS),
        scratch=scratch_runs("eval.json", FIGURE_GAMES, ABLATION_METHODS),
    output:
        **_table_outputs("table2"),
    log:
        TREE.log("tables", "table2"),
    benchmark:
        TREE.benchmark("tables", "table2")
    localrule: True
    threads: 1
    resources:
        mem_mb=500,
        gpu=0,
    params:
        search=tree_param(lambda w: TREE.search),
        runs=tree_param(lambda w: TREE.runs),
        games=" ".join(FIGURE_GAMES),
        methods=" ".join(ABLATION_METHODS),
        labels=" ".join(
            "+".join(
                n for n, c in (("actor", METHODS[m].actor), ("critic", METHODS[m].critic)) if c > 0
            )
            or "none"
            for m in ABLATION_METHODS
        ),
        seeds=" ".join(str(s) for s in SEEDS),
        prefix=tree_param(lambda w: TREE.table_prefix("table2")),
        nokd=lambda w, input: " --nokd" if input.scratch else "",
        steps=STEPS_JSON,
    shell:
        "python -m a2d.results.tables table2 --search {params.search} --runs {params.runs}"
        " --games {params.games} --methods {params.methods} --labels {params.labels}"
        " --seeds {params.seeds}{params.nokd} --steps-json {params.steps}"
        " --out {params.prefix} > {log:q} 2>&1"


rule table3:
    input:
        archs=search_files("arch.json", FIGURE_GAMES, FIG2_METHODS),
        search_evals=search_files("eval.json", FIGURE_GAMES, FIG2_METHODS),
        retrained=retrained("eval.json", FIGURE_GAMES, FIG2_METHODS),
    output:
        **_table_outputs("table3"),
    log:
        TREE.log("tables", "table3"),
    benchmark:
        TREE.benchmark("tables", "table3")
    localrule: True
    threads: 1
    resources:
        mem_mb=500,
        gpu=0,
    params:
        search=tree_param(lambda w: TREE.search),
        runs=tree_param(lambda w: TREE.runs),
        games=" ".join(FIGURE_GAMES),
        methods=" ".join(FIG2_METHODS),
        seeds=" ".join(str(s) for s in SEEDS),
        prefix=tree_param(lambda w: TREE.table_prefix("table3")),
        steps=STEPS_JSON,
    shell:
        "python -m a2d.results.tables table3 --search {params.search} --runs {params.runs}"
        " --games {params.games} --methods {params.methods}"
        " --seeds {params.seeds} --steps-json {params.steps} --out {params.prefix} > {log:q} 2>&1"


rule table4:
    input:
        archs=search_files("arch.json", GAMES, [MAIN_METHOD]),
        cards=exports("agent.onnx.json", GAMES, [MAIN_METHOD]),
    output:
        **_table_outputs("table4"),
    log:
        TREE.log("tables", "table4"),
    benchmark:
        TREE.benchmark("tables", "table4")
    localrule: True
    threads: 1
    resources:
        mem_mb=500,
        gpu=0,
    params:
        search=tree_param(lambda w: TREE.search),
        games=" ".join(GAMES),
        exports=tree_param(lambda w: TREE.export),
        method=MAIN_METHOD,
        seeds=" ".join(str(s) for s in SEEDS),
        prefix=tree_param(lambda w: TREE.table_prefix("table4")),
        steps=STEPS_JSON,
    shell:
        "python -m a2d.results.tables table4 --search {params.search} --exports {params.exports}"
        " --games {params.games} --method {params.method} --seeds {params.seeds}"
        " --steps-json {params.steps} --out {params.prefix} > {log:q} 2>&1"


rule fig3:
    input:
        baselines=baseline_runs("eval.json"),
        a2d=retrained("eval.json", GAMES, [MAIN_METHOD]),
        kd=kd_runs("eval.json"),
        scratch=scratch_runs("eval.json", GAMES, [MAIN_METHOD]),
        random=random_scores(GAMES),
    output:
        **_figure_outputs("fig3", "Fig 3"),
    log:
        TREE.log("figures", "fig3"),
    benchmark:
        TREE.benchmark("figures", "fig3")
    localrule: True
    threads: 1
    resources:
        mem_mb=1000,
        gpu=0,
    params:
        runs=tree_param(lambda w: TREE.runs),
        random=tree_param(lambda w: TREE.random),
        games=" ".join(GAMES),
        archs=" ".join(BASELINE_RUNS),
        method=MAIN_METHOD,
        seeds=" ".join(str(s) for s in SEEDS),
        controls=KD_FLAGS,
    shell:
        "python -m a2d.results.fig3 --runs {params.runs} --random {params.random}"
        " --games {params.games} --archs {params.archs} --method {params.method}"
        " --seeds {params.seeds}{params.controls} --pdf {output.pdf:q} --png {output.png:q}"
        " > {log:q} 2>&1"


rule table1:
    input:
        baselines=baseline_runs("eval.json"),
        a2d=retrained("eval.json", GAMES, [MAIN_METHOD]),
        kd=kd_runs("eval.json"),
        scratch=scratch_runs("eval.json", GAMES, [MAIN_METHOD]),
        cards=[
            TREE.export_file(g, a, s, "agent.onnx.json")
            for g in GAMES
            for a in BASELINE_RUNS
            for s in SEEDS
        ]
        + exports("agent.onnx.json", GAMES, [MAIN_METHOD]),
    output:
        **_table_outputs("table1"),
    log:
        TREE.log("tables", "table1"),
    benchmark:
        TREE.benchmark("tables", "table1")
    localrule: True
    threads: 1
    resources:
        mem_mb=500,
        gpu=0,
    params:
        runs=tree_param(lambda w: TREE.runs),
        games=" ".join(GAMES),
        archs=" ".join(BASELINE_RUNS),
        method=MAIN_METHOD,
        seeds=" ".join(str(s) for s in SEEDS),
        prefix=tree_param(lambda w: TREE.table_prefix("table1")),
        exports=tree_param(lambda w: TREE.export),
        controls=KD_FLAGS,
        steps=STEPS_JSON,
        stem_stride=config["search"]["stem_stride"],
    shell:
        "python -m a2d.results.tables table1 --runs {params.runs} --games {params.games}"
        " --archs {params.archs} --method {params.method} --seeds {params.seeds}{params.controls}"
        " --exports {params.exports} --steps-json {params.steps} --stem-stride {params.stem_stride}"
        " --out {params.prefix}"
        " > {log:q} 2>&1"


rule aggregate:
    input:
        baselines=baseline_runs("eval.json"),
        a2d=retrained("eval.json", GAMES, [MAIN_METHOD]),
        kd=kd_runs("eval.json"),
        scratch=scratch_runs("eval.json", GAMES, [MAIN_METHOD]),
    output:
        **_figure_outputs("aggregate", "Aggregate"),
        **_table_outputs("aggregate"),
    log:
        TREE.log("figures", "aggregate"),
    benchmark:
        TREE.benchmark("figures", "aggregate")
    localrule: True
    threads: 1
    resources:
        mem_mb=1000,
        gpu=0,
    params:
        runs=tree_param(lambda w: TREE.runs),
        games=" ".join(GAMES),
        archs=" ".join(BASELINE_RUNS),
        method=MAIN_METHOD,
        seeds=" ".join(str(s) for s in SEEDS),
        prefix=tree_param(lambda w: TREE.table_prefix("aggregate")),
        controls=KD_FLAGS,
        steps=STEPS_JSON,
    shell:
        "python -m a2d.results.aggregate --runs {params.runs} --games {params.games}"
        " --archs {params.archs} --method {params.method} --seeds {params.seeds}{params.controls}"
        " --steps-json {params.steps} --pdf {output.pdf:q} --png {output.png:q}"
        " --out {params.prefix} > {log:q} 2>&1"


rule rliable:
    input:
        evals=baseline_runs("eval.json")
        + kd_runs("eval.json")
        + retrained("eval.json", GAMES, [MAIN_METHOD])
        + scratch_runs("eval.json", GAMES, [MAIN_METHOD]),
        curves=baseline_runs("curve.csv")
        + kd_runs("curve.csv")
        + retrained("curve.csv", GAMES, [MAIN_METHOD])
        + scratch_runs("curve.csv", GAMES, [MAIN_METHOD]),
    output:
        **RLIABLE_FIGURES,
    log:
        TREE.log("figures", "rliable"),
    benchmark:
        TREE.benchmark("figures", "rliable")
    localrule: True
    threads: 1
    resources:
        mem_mb=1000,
        gpu=0,
    params:
        runs=tree_param(lambda w: TREE.runs),
        games=" ".join(GAMES),
        archs=" ".join(BASELINE_RUNS),
        method=MAIN_METHOD,
        seeds=" ".join(str(s) for s in SEEDS),
        controls=KD_FLAGS,
    shell:
        "python -m a2d.results.rliable_figs --runs {params.runs} --games {params.games}"
        " --archs {params.archs} --method {params.method} --seeds {params.seeds}{params.controls}"
        " --profile-pdf {output.profile_pdf:q} --profile-png {output.profile_png:q}"
        " --poi-pdf {output.poi_pdf:q} --poi-png {output.poi_png:q}"
        " --curves-pdf {output.sample_efficiency_pdf:q}"
        " --curves-png {output.sample_efficiency_png:q} > {log:q} 2>&1"


rule claims:
    input:
        sweep=sweep_runs("eval.json"),
        searches=search_files("search_curve.csv", FIGURE_GAMES, CLAIM_B_METHODS)
        + search_files("eval.json", FIGURE_GAMES, CLAIM_B_METHODS),
        archs=search_files("arch.json", GAMES, [MAIN_METHOD]),
        baselines=baseline_runs("eval.json"),
        a2d=retrained("eval.json", GAMES, [MAIN_METHOD]),
    output:
        md=report(
            TREE.table("claims", "md"),
            caption="../report/claims.rst",
            category="Tables",
            labels={"table": "claims", "format": "md"},
        ),
        csv=report(
            TREE.table("claims", "csv"),
            caption="../report/claims.rst",
            category="Tables",
            labels={"table": "claims", "format": "csv"},
        ),
    log:
        TREE.log("tables", "claims"),
    benchmark:
        TREE.benchmark("tables", "claims")
    localrule: True
    threads: 1
    resources:
        mem_mb=1000,
        gpu=0,
    params:
        runs=tree_param(lambda w: TREE.runs),
        search=tree_param(lambda w: TREE.search),
        games=" ".join(GAMES),
        figure_games=" ".join(FIGURE_GAMES),
        sweep=" ".join(SWEEP_ARCHS),
        archs=" ".join(BASELINE_RUNS),
        method=MAIN_METHOD,
        vanilla=f" --vanilla {VANILLA_METHOD}" if VANILLA_METHOD else "",
        seeds=" ".join(str(s) for s in SEEDS),
        prefix=tree_param(lambda w: TREE.table_prefix("claims")),
        steps=STEPS_JSON,
    shell:
        "python -m a2d.results.claims --runs {params.runs} --search {params.search}"
        " --games {params.games} --figure-games {params.figure_games}"
        " --sweep-archs {params.sweep} --archs {params.archs} --method {params.method}"
        "{params.vanilla} --seeds {params.seeds} --steps-json {params.steps}"
        " --out {params.prefix} > {log:q} 2>&1"


rule config_used:
    output:
        report(
            TREE.config_yaml,
            caption="../report/config.rst",
            category="Config",
            labels={"file": "config used"},
        ),
    log:
        TREE.log("config_used"),
    benchmark:
        TREE.benchmark("config_used")
    localrule: True
    threads: 1
    resources:
        mem_mb=200,
        gpu=0,
    params:
        # the merged config (config.yaml + presets + --config): a change reruns this rule
        cfg=json.dumps(config, sort_keys=True),
    shell:
        "python -m a2d.results.config_dump --json {params.cfg:q} --out {output:q} > {log:q} 2>&1"

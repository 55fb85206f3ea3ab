# Architecture search per (game, method, seed), derivation, and retraining of the derived net
# (with the teacher's distillation; without it in retrain_nokd, controls.scratch_retrain).


rule search:
    input:
        unpack(search_inputs),
    output:
        curve=TREE.search_file("{game}", "{method}", "{seed}", "search_curve.csv"),
        alpha=TREE.search_file("{game}", "{method}", "{seed}", "alpha.csv"),
        supernet=TREE.search_file("{game}", "{method}", "{seed}", "supernet.pt"),
        arch=TREE.search_file("{game}", "{method}", "{seed}", "arch.json"),
        eval=TREE.search_file("{game}", "{method}", "{seed}", "eval.json"),
    log:
        TREE.log("search", SEARCH),
    benchmark:
        TREE.benchmark("search", SEARCH)
    threads: TRAIN_THREADS
    resources:
        mem_mb=TRAIN_MEM_MB,
        gpu=GPU,
    params:
        cfg=RUN_CFG,
        teacher=lambda w, input: (
            "--teacher " + shlex.quote(input.teacher) if "teacher" in input.keys() else ""
        ),
        cost=optional_flag("--cost-table", "cost_table"),
        out=tree_param(lambda w: TREE.search_dir(w.game, w.method, w.seed)),
    shell:
        "a2d search --game {wildcards.game} --method {wildcards.method} --seed {wildcards.seed}"
        " {params.teacher}{params.cost} --out {params.out} --config-json {params.cfg}"
        " --set torch_threads={threads} --set env.num_threads={threads}"
        " > {log:q} 2>&1"


rule cost_table:
    output:
        TREE.cost_table("{target}"),
    log:
        TREE.log("cost_table", "{target}"),
    benchmark:
        TREE.benchmark("cost_table", "{target}")
    wildcard_constraints:
        target="[a-z-]+",
    threads: 1
    resources:
        mem_mb=2000,
        gpu=lambda w: 1 if w.target == "cuda" else 0,
    params:
        cfg=COST_CFG,
    shell:
        "a2d cost-table --target {wildcards.target} --out {output:q} --threads {threads}"
        " --config-json {params.cfg} > {log:q} 2>&1"


rule derive:
    input:
        TREE.search_file("{game}", "{method}", "{seed}", "supernet.pt"),
    output:
        TREE.derived_arch("{game}", "{method}", "{seed}"),
    log:
        TREE.log("derive", SEARCH),
    benchmark:
        TREE.benchmark("derive", SEARCH)
    threads: 1
    resources:
        mem_mb=2000,
        gpu=0,
    shell:
        "a2d derive --search {input:q} --out {output:q} --name searched_{wildcards.method} > {log:q} 2>&1"


rule retrain:
    input:
        arch=TREE.derived_arch("{game}", "{method}", "{seed}"),
        teacher=TREE.teacher_json("{game}"),
    output:
        eval=TREE.run_file("{game}", searched("{method}"), "{seed}", "eval.json"),
        curve=TREE.run_file("{game}", searched("{method}"), "{seed}", "curve.csv"),
        model=TREE.run_file("{game}", searched("{method}"), "{seed}", "model.json"),
        agent=TREE.run_file("{game}", searched("{method}"), "{seed}", "agent.pt"),
    log:
        TREE.log("retrain", SEARCH),
    benchmark:
        TREE.benchmark("retrain", SEARCH)
    wildcard_constraints:
        method="[A-Za-z0-9_]+(?<!_nokd)",  # searched_{method}_nokd: rule retrain_nokd
    threads: TRAIN_THREADS
    resources:
        mem_mb=TRAIN_MEM_MB,
        gpu=GPU,
    params:
        cfg=RUN_CFG,
        out=tree_param(lambda w: TREE.run_dir(w.game, searched(w.method), w.seed)),
    shell:
        "a2d train --game {wildcards.game} --arch {input.arch:q} --teacher {input.teacher:q}"
        " --seed {wildcards.seed} --out {params.out} --config-json {params.cfg}"
        " --set torch_threads={threads}"
        " --set env.num_threads={threads} > {log:q} 2>&1"


rule retrain_nokd:
    input:
        arch=TREE.derived_arch("{game}", "{method}", "{seed}"),
    output:
        eval=TREE.run_file("{game}", nokd("{method}"), "{seed}", "eval.json"),
        curve=TREE.run_file("{game}", nokd("{method}"), "{seed}", "curve.csv"),
        model=TREE.run_file("{game}", nokd("{method}"), "{seed}", "model.json"),
        agent=TREE.run_file("{game}", nokd("{method}"), "{seed}", "agent.pt"),
    log:
        TREE.log("retrain_nokd", SEARCH),
    benchmark:
        TREE.benchmark("retrain_nokd", SEARCH)
    threads: TRAIN_THREADS
    resources:
        mem_mb=TRAIN_MEM_MB,
        gpu=GPU,
    params:
        cfg=TRAIN_CFG,
        out=tree_param(lambda w: TREE.run_dir(w.game, nokd(w.method), w.seed)),
    shell:
        "a2d train --game {wildcards.game} --arch {input.arch:q} --seed {wildcards.seed}"
        " --out {params.out} --config-json {params.cfg} --set torch_threads={threads}"
        " --set env.num_threads={threads}"
        " > {log:q} 2>&1"

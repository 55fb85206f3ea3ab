# Training of the fixed architectures: manual nets and teachers (rule train), the manual baselines
# at A2D's pipeline's env steps (train_budget) and distilled from the teacher (train_kd); the
# searched nets are retrained in search.smk. These are the longest jobs of a preset (a manual net
# of 100k steps took 422-969 s in the quick preset, a search 161-222 s), so they get
# `priority: 1`: with few cores Snakemake starts them first and the short jobs fill in around
# them, instead of a long baseline running alone at the end.


rule train:
    output:
        eval=TREE.run_file("{game}", "{arch}", "{seed}", "eval.json"),
        curve=TREE.run_file("{game}", "{arch}", "{seed}", "curve.csv"),
        model=TREE.run_file("{game}", "{arch}", "{seed}", "model.json"),
        agent=TREE.run_file("{game}", "{arch}", "{seed}", "agent.pt"),
    log:
        TREE.log("train", RUN),
    benchmark:
        TREE.benchmark("train", RUN)
    wildcard_constraints:
        arch=MANUAL_ARCH,  # searched nets: rule retrain; `_kd`, `_eq` runs: the rules below
    priority: 1
    threads: TRAIN_THREADS
    resources:
        mem_mb=TRAIN_MEM_MB,
        gpu=GPU,
    params:
        cfg=TRAIN_CFG,
        out=tree_param(lambda w: TREE.run_dir(w.game, w.arch, w.seed)),
    shell:
        "a2d train --game {wildcards.game} --arch {wildcards.arch} --seed {wildcards.seed}"
        " --out {params.out} --config-json {params.cfg} --set torch_threads={threads}"
        " --set env.num_threads={threads} > {log:q} 2>&1"


rule train_budget:
    output:
        eval=TREE.run_file("{game}", equal_budget("{arch}"), "{seed}", "eval.json"),
        curve=TREE.run_file("{game}", equal_budget("{arch}"), "{seed}", "curve.csv"),
        model=TREE.run_file("{game}", equal_budget("{arch}"), "{seed}", "model.json"),
        agent=TREE.run_file("{game}", equal_budget("{arch}"), "{seed}", "agent.pt"),
    log:
        TREE.log("train_budget", RUN),
    benchmark:
        TREE.benchmark("train_budget", RUN)
    wildcard_constraints:
        arch=MANUAL_ARCH,
    priority: 1
    threads: TRAIN_THREADS
    resources:
        mem_mb=TRAIN_MEM_MB,
        gpu=GPU,
    params:
        cfg=TRAIN_CFG,
        steps=EQUAL_BUDGET_STEPS,
        out=tree_param(lambda w: TREE.run_dir(w.game, equal_budget(w.arch), w.seed)),
    shell:
        "a2d train --game {wildcards.game} --arch {wildcards.arch} --seed {wildcards.seed}"
        " --steps {params.steps} --out {params.out} --config-json {params.cfg}"
        " --set torch_threads={threads}"
        " --set env.num_threads={threads} > {log:q} 2>&1"


rule train_kd:
    input:
        teacher=TREE.teacher_json("{game}"),
    output:
        eval=TREE.run_file("{game}", kd("{arch}"), "{seed}", "eval.json"),
        curve=TREE.run_file("{game}", kd("{arch}"), "{seed}", "curve.csv"),
        model=TREE.run_file("{game}", kd("{arch}"), "{seed}", "model.json"),
        agent=TREE.run_file("{game}", kd("{arch}"), "{seed}", "agent.pt"),
    log:
        TREE.log("train_kd", RUN),
    benchmark:
        TREE.benchmark("train_kd", RUN)
    wildcard_constraints:
        arch=KD_ARCH,  # a manual net, `{arch}_eq` one of equal budget
    priority: 1
    threads: TRAIN_THREADS
    resources:
        mem_mb=TRAIN_MEM_MB,
        gpu=GPU,
    params:
        cfg=KD_CFG,
        arch=lambda w: manual_arch(w.arch),
        steps=lambda w: f"--steps {EQUAL_BUDGET_STEPS}" if w.arch.endswith("_eq") else "",
        out=tree_param(lambda w: TREE.run_dir(w.game, kd(w.arch), w.seed)),
    shell:
        "a2d train --game {wildcards.game} --arch {params.arch} --teacher {input.teacher:q}"
        " --seed {wildcards.seed} {params.steps} --out {params.out} --config-json {params.cfg}"
        " --set torch_threads={threads}"
        " --set env.num_threads={threads} > {log:q} 2>&1"


rule teacher:
    input:
        eval=TREE.run_file("{game}", TEACHER_ARCH, TEACHER_SEED, "eval.json"),
        agent=TREE.run_file("{game}", TEACHER_ARCH, TEACHER_SEED, "agent.pt"),
    output:
        TREE.teacher_json("{game}"),
    log:
        TREE.log("teacher", "{game}"),
    benchmark:
        TREE.benchmark("teacher", "{game}")
    localrule: True
    threads: 1
    resources:
        mem_mb=200,
        gpu=0,
    params:
        run=tree_param(lambda w: TREE.run_dir(w.game, TEACHER_ARCH, TEACHER_SEED)),
    shell:
        "a2d teacher --run {params.run} --out {output:q} > {log:q} 2>&1"


rule random_policy:
    output:
        TREE.random_json("{game}"),
    log:
        TREE.log("random", "{game}"),
    benchmark:
        TREE.benchmark("random", "{game}")
    threads: 1
    resources:
        mem_mb=1000,
        gpu=0,
    params:
        cfg=TRAIN_CFG,
    shell:
        "a2d random --game {wildcards.game} --out {output:q} --config-json {params.cfg} > {log:q} 2>&1"

# Training: one rule for every fixed architecture (manual nets, teachers, retrained searched nets).


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
        arch="(?!searched_)[A-Za-z0-9_]+",  # retrained searched nets come from rule retrain
    threads: TRAIN_THREADS
    resources:
        mem_mb=TRAIN_MEM_MB,
        gpu=GPU,
    params:
        cfg=TRAIN_CFG,
        out=tree_param(lambda w: TREE.run_dir(w.game, w.arch, w.seed)),
    shell:
        "a2d train --game {wildcards.game} --arch {wildcards.arch} --seed {wildcards.seed}"
        " --out {params.out} --config-json {params.cfg} --set torch_threads={threads} > {log:q} 2>&1"


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

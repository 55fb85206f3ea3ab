# Training: one rule for every fixed architecture (manual nets, teachers, retrained searched nets).


rule train:
    wildcard_constraints:
        arch="(?!searched_)[A-Za-z0-9_]+",  # retrained searched nets come from rule retrain
    output:
        eval=f"{RESULTS}/runs/{{game}}/{{arch}}/seed{{seed}}/eval.json",
        curve=f"{RESULTS}/runs/{{game}}/{{arch}}/seed{{seed}}/curve.csv",
        model=f"{RESULTS}/runs/{{game}}/{{arch}}/seed{{seed}}/model.json",
        agent=f"{RESULTS}/runs/{{game}}/{{arch}}/seed{{seed}}/agent.pt",
    conda:
        "../envs/a2d.yaml"
    log:
        f"{RESULTS}/logs/train/{{game}}/{{arch}}/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{game}}/{{arch}}/seed{{seed}}.tsv"
    threads: TRAIN_THREADS
    resources:
        mem_mb=TRAIN_MEM_MB,
        gpu=GPU,
    params:
        cfg=TRAIN_CFG,
        out=lambda w, output: os.path.dirname(output.eval),
    shell:
        "a2d train --game {wildcards.game} --arch {wildcards.arch} --seed {wildcards.seed}"
        " --out {params.out} --config-json {params.cfg} --set torch_threads={threads} > {log} 2>&1"


rule teacher:
    input:
        eval=f"{RESULTS}/runs/{{game}}/{TEACHER_ARCH}/seed{TEACHER_SEED}/eval.json",
        agent=f"{RESULTS}/runs/{{game}}/{TEACHER_ARCH}/seed{TEACHER_SEED}/agent.pt",
    output:
        f"{RESULTS}/teachers/{{game}}.json",
    conda:
        "../envs/a2d.yaml"
    log:
        f"{RESULTS}/logs/teacher/{{game}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/teacher/{{game}}.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=200,
        gpu=0,
    params:
        run=lambda w, input: os.path.dirname(input.eval),
    shell:
        "a2d teacher --run {params.run} --out {output} > {log} 2>&1"


rule random_policy:
    output:
        f"{RESULTS}/random/{{game}}.json",
    conda:
        "../envs/a2d.yaml"
    log:
        f"{RESULTS}/logs/random/{{game}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/random/{{game}}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        gpu=0,
    params:
        cfg=TRAIN_CFG,
    shell:
        "a2d random --game {wildcards.game} --out {output} --config-json {params.cfg} > {log} 2>&1"

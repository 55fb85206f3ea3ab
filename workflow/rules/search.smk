# Architecture search per (game, method, seed), derivation, and retraining of the derived net.


rule search:
    input:
        unpack(search_inputs),
    output:
        curve=f"{RESULTS}/search/{{game}}/{{method}}/seed{{seed}}/search_curve.csv",
        alpha=f"{RESULTS}/search/{{game}}/{{method}}/seed{{seed}}/alpha.csv",
        supernet=f"{RESULTS}/search/{{game}}/{{method}}/seed{{seed}}/supernet.pt",
        arch=f"{RESULTS}/search/{{game}}/{{method}}/seed{{seed}}/arch.json",
        eval=f"{RESULTS}/search/{{game}}/{{method}}/seed{{seed}}/eval.json",
    conda:
        "../envs/a2d.yaml"
    log:
        f"{RESULTS}/logs/search/{{game}}/{{method}}/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/search/{{game}}/{{method}}/seed{{seed}}.tsv"
    threads: TRAIN_THREADS
    resources:
        mem_mb=TRAIN_MEM_MB,
        gpu=GPU,
    params:
        cfg=RUN_CFG,
        teacher=lambda w, input: f"--teacher {input.teacher}" if "teacher" in input.keys() else "",
        out=lambda w, output: os.path.dirname(output.arch),
    shell:
        "a2d search --game {wildcards.game} --method {wildcards.method} --seed {wildcards.seed}"
        " {params.teacher} --out {params.out} --config-json {params.cfg} --set torch_threads={threads}"
        " > {log} 2>&1"


rule derive:
    input:
        f"{RESULTS}/search/{{game}}/{{method}}/seed{{seed}}/supernet.pt",
    output:
        f"{RESULTS}/derived/{{game}}/{{method}}/seed{{seed}}/arch.json",
    conda:
        "../envs/a2d.yaml"
    log:
        f"{RESULTS}/logs/derive/{{game}}/{{method}}/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/derive/{{game}}/{{method}}/seed{{seed}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        gpu=0,
    shell:
        "a2d derive --search {input} --out {output} --name searched_{wildcards.method} > {log} 2>&1"


rule retrain:
    input:
        arch=f"{RESULTS}/derived/{{game}}/{{method}}/seed{{seed}}/arch.json",
        teacher=f"{RESULTS}/teachers/{{game}}.json",
    output:
        eval=f"{RESULTS}/runs/{{game}}/searched_{{method}}/seed{{seed}}/eval.json",
        curve=f"{RESULTS}/runs/{{game}}/searched_{{method}}/seed{{seed}}/curve.csv",
        model=f"{RESULTS}/runs/{{game}}/searched_{{method}}/seed{{seed}}/model.json",
        agent=f"{RESULTS}/runs/{{game}}/searched_{{method}}/seed{{seed}}/agent.pt",
    conda:
        "../envs/a2d.yaml"
    log:
        f"{RESULTS}/logs/retrain/{{game}}/{{method}}/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/retrain/{{game}}/{{method}}/seed{{seed}}.tsv"
    threads: TRAIN_THREADS
    resources:
        mem_mb=TRAIN_MEM_MB,
        gpu=GPU,
    params:
        cfg=RUN_CFG,
        out=lambda w, output: os.path.dirname(output.eval),
    shell:
        "a2d train --game {wildcards.game} --arch {input.arch} --teacher {input.teacher}"
        " --seed {wildcards.seed} --out {params.out} --config-json {params.cfg}"
        " --set torch_threads={threads} > {log} 2>&1"

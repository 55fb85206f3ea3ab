# Deployment: ONNX export of the searched agents (parity-checked, latency for Table 4) and a
# gameplay video per game for the report.


rule export:
    input:
        agent=f"{RESULTS}/runs/{{game}}/{{arch}}/seed{{seed}}/agent.pt",
        eval=f"{RESULTS}/runs/{{game}}/{{arch}}/seed{{seed}}/eval.json",
    output:
        onnx=f"{RESULTS}/export/{{game}}/{{arch}}/seed{{seed}}/agent.onnx",
        card=f"{RESULTS}/export/{{game}}/{{arch}}/seed{{seed}}/agent.onnx.json",
    conda:
        "../envs/a2d.yaml"
    log:
        f"{RESULTS}/logs/export/{{game}}/{{arch}}/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/export/{{game}}/{{arch}}/seed{{seed}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        gpu=0,
    params:
        run=lambda w, input: os.path.dirname(input.agent),
    shell:
        "a2d export --run {params.run} --format onnx --out {output.onnx} --threads {threads}"
        " > {log} 2>&1"


rule play:
    input:
        agent=f"{RESULTS}/runs/{{game}}/searched_{MAIN_METHOD}/seed{SEEDS[0]}/agent.pt",
        eval=f"{RESULTS}/runs/{{game}}/searched_{MAIN_METHOD}/seed{SEEDS[0]}/eval.json",
    output:
        video=f"{RESULTS}/videos/{{game}}.mp4",
        score=f"{RESULTS}/videos/{{game}}.json",
        page=report(
            f"{RESULTS}/videos/{{game}}.html",
            caption="../report/video.rst",
            category="Videos",
            labels={"game": "{game}"},
        ),
    conda:
        "../envs/a2d.yaml"
    log:
        f"{RESULTS}/logs/play/{{game}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/play/{{game}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        gpu=0,
    params:
        run=lambda w, input: os.path.dirname(input.agent),
        cfg=TRAIN_CFG,
        title=lambda w: f"{w.game}: the {MAIN_METHOD} net (seed {SEEDS[0]}), one full test game",
    shell:
        "(a2d play --run {params.run} --episodes 1 --video {output.video} --out {output.score}"
        " --config-json {params.cfg} --set torch_threads={threads} --device cpu"
        " && python -m a2d.results.video_page --video {output.video} --score {output.score}"
        " --title {params.title:q} --out {output.page}) > {log} 2>&1"

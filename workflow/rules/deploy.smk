# Deployment: ONNX export of the searched agents (parity-checked, latency for Table 4) and a
# gameplay video per game for the report.

PLAYED = searched(MAIN_METHOD)  # the net whose gameplay each video shows (its first seed)


rule export:
    input:
        agent=TREE.run_file("{game}", "{arch}", "{seed}", "agent.pt"),
        eval=TREE.run_file("{game}", "{arch}", "{seed}", "eval.json"),
    output:
        onnx=TREE.export_file("{game}", "{arch}", "{seed}", "agent.onnx"),
        card=TREE.export_file("{game}", "{arch}", "{seed}", "agent.onnx.json"),
    log:
        TREE.log("export", RUN),
    benchmark:
        TREE.benchmark("export", RUN)
    threads: 1
    resources:
        mem_mb=2000,
        gpu=0,
    params:
        run=tree_param(lambda w: TREE.run_dir(w.game, w.arch, w.seed)),
    shell:
        "a2d export --run {params.run} --format onnx --out {output.onnx:q} --threads {threads}"
        " > {log:q} 2>&1"


rule play:
    input:
        agent=TREE.run_file("{game}", PLAYED, SEEDS[0], "agent.pt"),
        eval=TREE.run_file("{game}", PLAYED, SEEDS[0], "eval.json"),
    output:
        video=TREE.video("{game}", "mp4"),
        score=TREE.video("{game}", "json"),
        page=report(
            TREE.video("{game}", "html"),
            caption="../report/video.rst",
            category="Videos",
            labels={"game": "{game}"},
        ),
    log:
        TREE.log("play", "{game}"),
    benchmark:
        TREE.benchmark("play", "{game}")
    threads: 1
    resources:
        mem_mb=2000,
        gpu=0,
    params:
        run=tree_param(lambda w: TREE.run_dir(w.game, PLAYED, SEEDS[0])),
        cfg=TRAIN_CFG,
        title=lambda w: f"{w.game}: the {MAIN_METHOD} net (seed {SEEDS[0]}), one full test game",
    shell:
        "(a2d play --run {params.run} --episodes 1 --video {output.video:q} --out {output.score:q}"
        " --config-json {params.cfg} --set torch_threads={threads} --device cpu"
        " && python -m a2d.results.video_page --video {output.video:q} --score {output.score:q}"
        " --title {params.title:q} --out {output.page:q}) > {log:q} 2>&1"

"""The results tree: every path the workflow writes and the figures and tables read, in one place.

``{results}/runs/{game}/{arch}/seed{seed}/`` (a trained net), ``{results}/search/{game}/{method}/
seed{seed}/`` (a search), ``{results}/derived/{game}/{method}/seed{seed}/arch.json``,
``{results}/export/{game}/{arch}/seed{seed}/``, ``{results}/teachers/{game}.json``,
``{results}/random/{game}.json``, ``{results}/videos/{game}.{mp4,json,html}``,
``{results}/cost/{target}.json`` (the latency table of ``search.cost: latency``),
``{results}/figures/{name}.{pdf,png}``, ``{results}/tables/{name}.{md,tex,csv}``,
``{results}/config.yaml``, ``{results}/cleanrl/`` (the PPO-vs-CleanRL comparison),
``{results}/evidence.json`` (what was published to ``docs/evidence/``), and a log and a benchmark per job under ``{results}/logs/`` and
``{results}/benchmarks/``.

Paths are plain strings joined with ``/`` (the workflow's input and output patterns), so any
argument may be a Snakemake wildcard such as ``"{game}"``. The module-level functions give the
layout inside one subtree (``runs/``, ``search/``, ...) from that subtree's root, for the
command-line tools that take such a root; :class:`ResultsTree` builds on them.
"""

from __future__ import annotations

from pathlib import Path

PathLike = str | Path


def job_key(game: str, name: str, seed: int | str) -> str:
    """``{game}/{name}/seed{seed}``: where one (game, arch or method, seed) job's files live,
    inside ``runs/``, ``search/``, ``derived/``, ``export/``, ``logs/<stage>/`` and
    ``benchmarks/<stage>/``."""
    return f"{game}/{name}/seed{seed}"


def run_dir(runs: PathLike, game: str, arch: str, seed: int | str) -> str:
    """A trained net's directory inside the runs root (the same layout under ``export/``)."""
    return f"{runs}/{job_key(game, arch, seed)}"


def search_dir(search: PathLike, game: str, method: str, seed: int | str) -> str:
    """A search's directory inside the search root."""
    return f"{search}/{job_key(game, method, seed)}"


def game_json(directory: PathLike, game: str) -> str:
    """A per-game record: ``teachers/{game}.json``, ``random/{game}.json``."""
    return f"{directory}/{game}.json"


def searched(method: str) -> str:
    """The arch name of a search method's derived net once retrained: ``searched_{method}``."""
    return f"searched_{method}"


def kd(arch: str) -> str:
    """The arch name of a manual net trained with the teacher's distillation: ``{arch}_kd``."""
    return f"{arch}_kd"


def nokd(method: str) -> str:
    """The arch name of a method's derived net retrained without the teacher:
    ``searched_{method}_nokd``."""
    return f"{searched(method)}_nokd"


def equal_budget(arch: str) -> str:
    """The arch name of a manual net trained for the env steps A2D's pipeline consumes
    (``controls.equal_budget``): ``{arch}_eq``. A name of its own, since the net's plain run
    ``{arch}`` may be a size-sweep run or the game's teacher, which keep ``ppo.total_steps``; its
    distilled control is ``kd(equal_budget(arch))``, ``{arch}_eq_kd``."""
    return f"{arch}_eq"


def manual_arch(name: str) -> str:
    """The architecture a manual run trains: ``name`` less a ``_kd`` suffix, then less an
    ``_eq`` suffix (``vanilla_eq_kd`` -> ``vanilla``; ``resnet14`` -> ``resnet14``)."""
    for suffix in ("_kd", "_eq"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name


class ResultsTree:
    """The paths of one results tree (one per preset), rooted at ``root``."""

    def __init__(self, root: PathLike):
        self.root = str(root)

    def __repr__(self) -> str:
        return f"ResultsTree({self.root!r})"

    def _sub(self, name: str) -> str:
        return f"{self.root}/{name}"

    # ------------------------------------------------------------ subtrees
    @property
    def runs(self) -> str:
        return self._sub("runs")

    @property
    def search(self) -> str:
        return self._sub("search")

    @property
    def derived(self) -> str:
        return self._sub("derived")

    @property
    def export(self) -> str:
        return self._sub("export")

    @property
    def teachers(self) -> str:
        return self._sub("teachers")

    @property
    def random(self) -> str:
        return self._sub("random")

    @property
    def cost(self) -> str:
        return self._sub("cost")

    @property
    def videos(self) -> str:
        return self._sub("videos")

    @property
    def figures(self) -> str:
        return self._sub("figures")

    @property
    def tables(self) -> str:
        return self._sub("tables")

    @property
    def logs(self) -> str:
        return self._sub("logs")

    @property
    def benchmarks(self) -> str:
        return self._sub("benchmarks")

    @property
    def cleanrl(self) -> str:
        """``benchmarks/cleanrl_compare.py``'s default ``--out`` for this tree: ``comparison.md``,
        ``comparison.json`` and the compared runs."""
        return self._sub("cleanrl")

    @property
    def evidence_record(self) -> str:
        """What rule ``evidence_docs`` last published from this tree (folder, files, commit)."""
        return self._sub("evidence.json")

    @property
    def config_yaml(self) -> str:
        """The merged config the tree was built with."""
        return self._sub("config.yaml")

    # ------------------------------------------------------------ per job
    def run_dir(self, game: str, arch: str, seed: int | str) -> str:
        return run_dir(self.runs, game, arch, seed)

    def run_file(self, game: str, arch: str, seed: int | str, name: str) -> str:
        """``eval.json``, ``curve.csv``, ``timing.csv``, ``model.json``, ``agent.pt`` of a run."""
        return f"{self.run_dir(game, arch, seed)}/{name}"

    def search_dir(self, game: str, method: str, seed: int | str) -> str:
        return search_dir(self.search, game, method, seed)

    def search_file(self, game: str, method: str, seed: int | str, name: str) -> str:
        """``search_curve.csv``, ``alpha.csv``, ``supernet.pt``, ``arch.json``, ``eval.json``."""
        return f"{self.search_dir(game, method, seed)}/{name}"

    def derived_arch(self, game: str, method: str, seed: int | str) -> str:
        """The architecture derived from a search (retrained as ``searched_{method}``)."""
        return f"{self.derived}/{job_key(game, method, seed)}/arch.json"

    def export_dir(self, game: str, arch: str, seed: int | str) -> str:
        return run_dir(self.export, game, arch, seed)

    def export_file(self, game: str, arch: str, seed: int | str, name: str) -> str:
        """``agent.onnx`` and its card ``agent.onnx.json``."""
        return f"{self.export_dir(game, arch, seed)}/{name}"

    # ------------------------------------------------------------ per game
    def teacher_json(self, game: str) -> str:
        return game_json(self.teachers, game)

    def random_json(self, game: str) -> str:
        return game_json(self.random, game)

    def video(self, game: str, ext: str) -> str:
        """``mp4`` (the gameplay), ``json`` (its score), ``html`` (the page for the report)."""
        return f"{self.videos}/{game}.{ext}"

    def cost_table(self, target: str) -> str:
        """The measured per-cell latency table of the supernet on ``target``
        (``a2d cost-table``; an input of the searches only with ``search.cost: latency``)."""
        return f"{self.cost}/{target}.json"

    # ------------------------------------------------------------ outputs of the whole tree
    def figure(self, name: str, ext: str) -> str:
        return f"{self.figures}/{name}.{ext}"

    def table_prefix(self, name: str) -> str:
        """``tables/{name}``: the tables tools write ``{prefix}.{md,tex,csv}``."""
        return f"{self.tables}/{name}"

    def table(self, name: str, ext: str) -> str:
        return f"{self.table_prefix(name)}.{ext}"

    # ------------------------------------------------------------ per job: log and benchmark
    def log(self, stage: str, *key: str) -> str:
        """``logs/{stage}/{key...}.log``; no key: ``logs/{stage}.log``."""
        return "/".join([self.logs, stage, *key]) + ".log"

    def benchmark(self, stage: str, *key: str) -> str:
        """``benchmarks/{stage}/{key...}.tsv``; no key: ``benchmarks/{stage}.tsv``."""
        return "/".join([self.benchmarks, stage, *key]) + ".tsv"

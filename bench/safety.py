"""How well the local safety checks do on the evaluation sets, and how long they take.

Run ``python -m bench.safety`` from the repository root. It prints, for the risk-language check
and the oversharing guard, a confusion table per label and per language (caught / missed for
sentences that should prompt, quiet / false alarm for those that should not), recall and false
alarm rate for the whole set and for each batch (each was measured before the lexicons were
tuned on it), the same for the unseen sets (written after an earlier change and never tuned on:
the honest measure) and for the fresh risk set (written before the structural layer, never
tuned on), and the time per check on a 2,000-character draft. ``--misses`` also lists the
sentences the checks got wrong.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from circle_client.safety import oversharing, risk_language

EVAL_DIR = Path(__file__).resolve().parent.parent / "tests" / "client" / "safety_eval"
DRAFT_CHARS = 2_000
_DRAFT_TEXT = (
    "I wanted to share how this week went, because last time I said I would. Monday was rough: "
    "I didn't sleep much, and work felt like a lot, but I went for a walk after dinner, about 3 "
    "kms, and that helped a bit. My sister called on Wednesday and we talked for an hour about "
    "Mum's appointment on the 14th at 10:30, which I'm nervous about. I keep thinking about what "
    "you all said about being kinder to myself. Call me crazy, but writing things down in the "
    "evening has made a difference. I'm not there yet, and some nights are still hard. Thank "
    "you @everyone for listening, it means more than I can say. "
)


@dataclass(frozen=True)
class Sentence:
    batch: int
    language: str
    label: str
    text: str

    @property
    def should_prompt(self) -> bool:
        return not self.label.startswith("no_")


def load(name: str) -> list[Sentence]:
    """The labelled sentences of ``tests/client/safety_eval/<name>.tsv``."""
    sentences = []
    batch = 1
    lines = (EVAL_DIR / f"{name}.tsv").read_text(encoding="utf-8").splitlines()
    for line in lines:
        if line.startswith("## batch "):
            batch = int(line.removeprefix("## batch "))
        if not line.strip() or line.startswith("#"):
            continue
        language, label, text = line.split("\t")
        sentences.append(Sentence(batch, language, label, text))
    return sentences


@dataclass
class Score:
    caught: int = 0
    missed: int = 0
    quiet: int = 0
    false_alarms: int = 0

    def add(self, sentence: Sentence, prompted: bool) -> None:
        if sentence.should_prompt:
            self.caught += prompted
            self.missed += not prompted
        else:
            self.false_alarms += prompted
            self.quiet += not prompted

    @property
    def recall(self) -> float:
        return self.caught / max(self.caught + self.missed, 1)

    @property
    def false_alarm_rate(self) -> float:
        return self.false_alarms / max(self.false_alarms + self.quiet, 1)


HELD_OUT = {
    "unseen": "unseen: written after an earlier change, never tuned on",
    "fresh": "fresh: written before the structural layer, never tuned on",
}
"""The sets that were never tuned on, by suffix ("risk_unseen.tsv", "risk_fresh.tsv")."""

CHECKS: dict[str, Callable[[str], bool]] = {
    "risk": risk_language,
    "oversharing": lambda text: bool(oversharing(text, region="GB")),
}


def held_out(name: str) -> list[str]:
    """The suffixes of the held-out sets that ``name`` has ("unseen", and "fresh" for risk)."""
    return [suffix for suffix in HELD_OUT if (EVAL_DIR / f"{name}_{suffix}.tsv").exists()]


def evaluate(
    name: str, batch: int | None = None, unseen: bool | str = False
) -> tuple[Score, list[Sentence]]:
    """The score of one check on its set (or one batch of it, or a held-out set: ``unseen``
    is True or "unseen" for ``<name>_unseen.tsv``, "fresh" for ``<name>_fresh.tsv``), and the
    sentences it got wrong."""
    check = CHECKS[name]
    score, wrong = Score(), []
    for sentence in load(_set_name(name, unseen)):
        if batch is not None and sentence.batch != batch:
            continue
        prompted = check(sentence.text)
        score.add(sentence, prompted)
        if prompted != sentence.should_prompt:
            wrong.append(sentence)
    return score, wrong


def _set_name(name: str, unseen: bool | str) -> str:
    suffix = "unseen" if unseen is True else unseen or ""
    return f"{name}_{suffix}" if suffix else name


def _table(name: str, unseen: bool | str = False) -> None:
    check = CHECKS[name]
    by_label: dict[str, Score] = defaultdict(Score)
    by_language: dict[str, Score] = defaultdict(Score)
    sentences = load(_set_name(name, unseen))
    for sentence in sentences:
        prompted = check(sentence.text)
        by_label[sentence.label].add(sentence, prompted)
        by_language[sentence.language].add(sentence, prompted)
    suffix = "unseen" if unseen is True else unseen or ""
    print(f"\n== {name}" + (f" ({HELD_OUT[suffix]})" if suffix else ""))
    print(f"{'':16} {'caught':>7} {'missed':>7} {'quiet':>7} {'f.alarm':>7}")
    for title, table in (("label", by_label), ("language", by_language)):
        print(f"-- by {title}")
        for key in sorted(table):
            s = table[key]
            print(f"{key:16} {s.caught:7} {s.missed:7} {s.quiet:7} {s.false_alarms:7}")
    batches = [] if unseen else sorted({s.batch for s in sentences})
    for title, batch in [("all", None), *((f"batch {b}", b) for b in batches)]:
        score, _ = evaluate(name, batch, unseen)
        n = score.caught + score.missed + score.quiet + score.false_alarms
        print(
            f"{title:9} n={n:3}  recall {score.recall:.3f} ({score.caught}/"
            f"{score.caught + score.missed})  false alarms {score.false_alarm_rate:.3f} "
            f"({score.false_alarms}/{score.false_alarms + score.quiet})"
        )


def draft(chars: int = DRAFT_CHARS) -> str:
    """A realistic, harmless long draft of exactly ``chars`` characters."""
    return (_DRAFT_TEXT * (chars // len(_DRAFT_TEXT) + 1))[:chars]


def time_check(
    check: Callable[[str], object], text: str, runs: int = 200, rounds: int = 5
) -> tuple[float, float, float]:
    """Milliseconds per call of ``check`` on ``text``: the median of the quietest round (other
    processes sharing the CPU disturb the rest), the overall median and 95th percentile."""
    check(text)
    medians, samples = [], []
    for _ in range(rounds):
        mine = []
        for _ in range(runs):
            start = time.perf_counter()
            check(text)
            mine.append((time.perf_counter() - start) * 1000)
        medians.append(statistics.median(mine))
        samples.extend(mine)
    samples.sort()
    return min(medians), statistics.median(samples), samples[int(len(samples) * 0.95)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--misses", action="store_true", help="list the sentences gotten wrong")
    args = parser.parse_args(argv)
    for name in CHECKS:
        for unseen in ("", *held_out(name)):
            _table(name, unseen)
            if args.misses:
                for s in evaluate(name, unseen=unseen)[1]:
                    print(f"   batch {s.batch} {s.language} {s.label}: {s.text}")
    text = draft()
    print(f"\n== time per check on a {len(text):,}-character draft")
    print(f"{'':12} {'quietest':>9} {'median':>9} {'95th pct':>9}")
    for name, check in (("risk", risk_language), ("oversharing", oversharing)):
        quiet, median, p95 = time_check(check, text)
        print(f"{name:12} {quiet:6.3f} ms {median:6.3f} ms {p95:6.3f} ms")


if __name__ == "__main__":
    main()

"""The agents' drift check (`aiprime.agents.traffic`) on the full suite: which windows of traffic it flags.

Reference: 1,000 tasks of the suite's training templates (per_kind 300, seed 0), as `agent_traffic_drift`
samples them. Windows of 500 tasks: the training phrasings about other subjects (seed 7), the held-out
phrasings, 80% training phrasings with 20% requests the suite never holds, and only such requests. Plans are
routed by the fixed rule (the check's chooser while no champion policy is registered).

Run from the repository root: `python bench/agent_drift.py --data /tmp/fr/data --cache /tmp/a_cache`.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from aiprime.agents.tasks import Sources, build_suite, split_tasks
from aiprime.agents.traffic import compare_traffic, rules_router, training_tasks
from aiprime.moe.embeddings import embed_texts

UNSEEN = ('Translate "{}" into French.', 'Write a short poem about "{}".', 'Draw a picture of "{}" for me.')


def windows(data: Path, size: int) -> dict[str, list[str]]:
    """The windows of traffic compared with the reference."""
    sources = Sources.load(data)
    suite = build_suite(sources, 300, seed=7)
    same, held_out = (
        random.Random(7).sample([t.text for t in split_tasks(suite, s)], size) for s in ("train", "test")
    )
    words, rng = sorted({lemma for lemmas in sources.synsets.lemmas for lemma in lemmas}), random.Random(7)
    unseen = [rng.choice(UNSEEN).format(rng.choice(words).replace("_", " ")) for _ in range(size)]
    mixed = same[: size * 4 // 5] + unseen[: size // 5]
    return {"training phrasings": same, "held-out phrasings": held_out, "80% training, 20% unseen": mixed,
            "unseen requests": unseen}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("--cache", type=Path, default=Path(".aiprime/embeddings"))
    parser.add_argument("--window", type=int, default=500)
    args = parser.parse_args()
    embed = lambda texts: embed_texts(texts, args.cache)
    reference = training_tasks(args.data, 300, 1000, 0)
    for name, tasks in windows(args.data, args.window).items():
        started = time.process_time()
        result = compare_traffic(reference, tasks, embed, rules_router).result
        print(f"{name}: MMD p={result.mmd_p_value:.3g}, chi-square p={result.chi2_p_value:.3g}, "
              f"drift={result.drifted} ({time.process_time() - started:.1f} s CPU)")  # fmt: skip


if __name__ == "__main__":
    main()

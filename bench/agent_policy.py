"""The tool policy against its baselines on held-out templates, its learning curve, and its off-policy estimate.

Builds the task suite from the prepared data (`--data`, a `data/` folder with processed/ and splits/), runs
every plan on every task once through the offline tools (`aiprime.agents.simulate`: the champions' mixture of
experts from `--models` for classify, BM25 over every document for search and ask), then:

- trains each learner (`vw`, `linucb`) online for `--interactions` simulated interactions on the training
  templates, and scores its greedy choice on the test templates (phrasings it never saw);
- scores the baselines on the same test tasks: random plans (the mean over plans), a fixed rule (the one plan
  best on the training templates, for every request), SmolLM2-135M choosing from a prompt (on `--llm-tasks`
  test tasks, the same ones for the policy), and the oracle (the best plan per task);
- logs `--logged` interactions on the test tasks under a uniform and under the policy's own epsilon-greedy
  pmf, and compares IPS and doubly robust estimates of the greedy policy with its measured success.

Writes the baselines and both learning curves (mean reward, cumulative regret against the best plan per
task, held-out success every 250 interactions) as JSON to `--out`.

Run from the repository root: `python bench/agent_policy.py --data /tmp/fr/data --models
/tmp/fr/.aiprime/models --cache /tmp/g_cache` (a full `make run`'s data and champions). Measured on the 2-core
machine at load average 16-28 (other jobs beside it), defaults (2,400 tasks, 597 on held-out templates):
running all 10 plans on every task took 387 s; on the held-out templates random plans succeed 0.164, the fixed
rule (search+wordnet, best on training templates) 0.424, the oracle 0.910; after 5,000 interactions VW 0.841
(92.4% of the oracle; 59 s of training) and LinUCB 0.841 (387 s; cumulative regret 574 against VW's 663),
both past 90% of the oracle from 500 interactions on. On 96 held-out tasks SmolLM2-135M choosing from a
few-shot prompt succeeded 0.427 (7.1 s per choice, one thread), the policy 0.865. On 5,000 interactions logged
on held-out tasks, the greedy policy's measured success 0.841 was estimated at IPS 0.842, DR 0.842 from an
epsilon-greedy log, and IPS 0.760, DR 0.825 from a uniform one.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from aiprime.agents.offpolicy import estimate, greedy, simulated_log
from aiprime.agents.plans import PLANS, plan_name
from aiprime.agents.policy import EPSILON, PromptChooser, ToolPolicy, contexts
from aiprime.agents.simulate import Classify, Toolbox, moe_classifier, reward_matrix, train
from aiprime.agents.tasks import Sources, build_suite
from aiprime.moe.embeddings import embed_texts, model_id
from aiprime.moe.system import MoESystem


def champion_classifier(models: Path, cache: Path) -> Classify:
    """classify through the champions' mixture of experts saved under `models` (as `make run` leaves them)."""
    gate = models / "aiprime-gate@champion" / "model"
    experts = sorted(p / "model" for p in models.glob("aiprime-expert-*@champion"))
    return moe_classifier(MoESystem.from_folders(gate, experts), cache)


def success(rewards: np.ndarray, actions: np.ndarray) -> float:
    """Mean reward of choosing `actions` (N,) on the tasks of `rewards` (N, P)."""
    return float(rewards[np.arange(len(rewards)), actions].mean())


def baselines(r_train: np.ndarray, r_test: np.ndarray) -> dict[str, float]:
    """Random, the fixed rule chosen on train, and the oracle, on the test tasks."""
    rule = int(r_train.mean(axis=0).argmax())
    return {
        "random": float(r_test.mean()),
        f"fixed rule ({plan_name(PLANS[rule])})": float(r_test[:, rule].mean()),
        "oracle": float(r_test.max(axis=1).mean()),
    }


def off_policy(policy: ToolPolicy, x: np.ndarray, r: np.ndarray, n: int, seed: int) -> dict[str, dict]:
    """IPS and DR of the greedy policy on logs from a uniform and from its epsilon-greedy pmf, vs measured."""
    best = policy.best(x)
    measured = success(r, best)
    explore = np.full((len(x), len(PLANS)), EPSILON / len(PLANS))
    explore[np.arange(len(x)), best] += 1 - EPSILON
    out = {}
    for name, pmf in (("uniform", np.full_like(explore, 1 / len(PLANS))), ("epsilon-greedy", explore)):
        logged = simulated_log(pmf, x, r, n, seed)
        value = estimate(logged, greedy(policy.best(logged.x), len(PLANS)))
        out[name] = {"measured": measured, "ips": value.ips, "doubly_robust": value.doubly_robust}
    return out


def smollm2(tasks, r: np.ndarray, policy_actions: np.ndarray) -> dict[str, float]:
    """The generator setting's LLM (SmolLM2 here; the OpenAI-compatible model of AIPRIME_GENERATOR_URL when
    set, so a larger model is measured on the same tasks) choosing from a prompt, and the policy on them."""
    from aiprime.rag.generators import generator_from_settings
    from aiprime.settings import Settings

    settings = Settings()
    chooser, actions, named, started = (
        PromptChooser(generator_from_settings(settings, n_threads=1)),
        [],
        0,
        time.perf_counter(),
    )
    for task in tasks:
        plan, ok = chooser.choose(task.text)
        actions.append(PLANS.index(plan))
        named += ok
    getattr(chooser.generator, "close", lambda: None)()
    return {
        "generator": settings.generator_model if settings.generator_url else "SmolLM2-135M (llama.cpp)",
        "tasks": len(tasks),
        "smollm2": success(r, np.array(actions)),
        "policy": success(r, policy_actions),
        "named_a_plan": named / len(tasks),
        "seconds_per_choice": (time.perf_counter() - started) / len(tasks),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("--models", type=Path, default=Path(".aiprime/models"))
    parser.add_argument("--cache", type=Path, default=Path(".aiprime/embeddings"))
    parser.add_argument("--per-kind", type=int, default=300)
    parser.add_argument("--interactions", type=int, default=5000)
    parser.add_argument("--logged", type=int, default=5000)
    parser.add_argument("--llm-tasks", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(".aiprime/agents/policy_bench.json"))
    args = parser.parse_args()

    started = time.perf_counter()
    suite = build_suite(Sources.load(args.data), args.per_kind, args.seed)
    toolbox = Toolbox(Sources.load(args.data), champion_classifier(args.models, args.cache))
    r = reward_matrix(toolbox, suite, PLANS)
    embed = lambda texts: embed_texts(texts, args.cache)
    x = contexts(embed, [task.text for task in suite])
    is_test = np.array([task.split == "test" for task in suite])
    print(f"{len(suite)} tasks ({is_test.sum()} on held-out templates), {len(PLANS)} plans: "
          f"{time.perf_counter() - started:.0f} s to run every plan on every task")  # fmt: skip
    train_set, test_set = (x[~is_test], r[~is_test]), (x[is_test], r[is_test])

    report, policies = {"baselines": baselines(r[~is_test], r[is_test]), "learners": {}}, {}
    for learner in ("vw", "linucb"):
        policy = ToolPolicy.new(learner, embed, model_id(), seed=args.seed)
        t0 = time.perf_counter()
        curve, _ = train(policy.learner, train_set, test_set, args.interactions, args.seed)
        policies[learner] = policy
        report["learners"][learner] = {"curve": curve, "train_seconds": time.perf_counter() - t0}
        print(f"{learner}: test success {curve[-1]['test_success']:.3f} after {args.interactions} interactions "
              f"({curve[-1]['test_success'] / report['baselines']['oracle']:.1%} of the oracle), "
              f"{time.perf_counter() - t0:.0f} s")  # fmt: skip
    best = max(policies, key=lambda name: report["learners"][name]["curve"][-1]["test_success"])
    report["chosen"] = best
    report["off_policy"] = off_policy(policies[best], *test_set, args.logged, args.seed)
    test_tasks = [task for task in suite if task.split == "test"]
    picked = np.random.default_rng(args.seed).permutation(len(test_tasks))[: args.llm_tasks]
    report["smollm2"] = smollm2(
        [test_tasks[i] for i in picked], r[is_test][picked], policies[best].best(x[is_test][picked])
    )
    for name, value in report["baselines"].items():
        print(f"{name}: {value:.3f}")
    print(json.dumps({k: report[k] for k in ("chosen", "off_policy", "smollm2")}, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"learning curves: {args.out}")


if __name__ == "__main__":
    main()

"""Does training learn? TD3 on a market with a planted edge and on one without.

Markets (simulator, EURUSD, no database): the edge market (`simulated.Edge`, a momentum the
state vector's rsi sees, strength --edge) and the no-edge market (today's random walk), each
on --seeds seeds (the market's seed and TD3's). Each is cut into --folds expanding
walk-forward folds (purged and embargoed); every fold trains a fresh TD3 for --timesteps,
is checked on its validation window (beats_flat_on_validation: the Sharpe interval above
0) and tested on its own later window next to flat, buy-and-hold, a 20/60 moving-average
crossover and the oracle (it knows the edge's signal: +-1 beyond +-1.5, else holds).
The oracle's expected Sharpe after the same costs comes from a long simulation
(--oracle-days) on a seed of its own.
Sharpe: annualized for 24x5 M1 bars, test windows pooled with a bootstrap-over-days interval;
the seed chosen by validation gets the deflated Sharpe ratio over all seeds tried.
The agent is `LEARNING` as it is (README, "Does the agent learn?"); `--without symmetric` /
`--without history` take one of its parts away (symmetric critics are replaced by round
three's mirrored replay), `--decision-bars 5` makes it decide every 5 bars: what mattered.
Last line of output: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from underdog.agent.baselines import oracle_positions, schedule_returns  # noqa: E402
from underdog.agent.config import LEARNING  # noqa: E402
from underdog.agent.simulated_market import simulated_market  # noqa: E402
from underdog.agent.stats import (  # noqa: E402
    books_returns,
    deflated_sharpe,
    per_bar_sharpe,
    sharpe_estimate,
)
from underdog.agent.walkforward import STRATEGIES, pooled_sharpe, run_folds  # noqa: E402
from underdog.sources.simulated import MODEST_EDGE, NO_EDGE, Edge  # noqa: E402

START = datetime(2024, 1, 8, tzinfo=UTC)  # a Monday
ORACLE_SEED = 1000  # the long simulation's own seed: none of the markets trained on


def without(config, parts: list[str]):
    """LEARNING less `parts` (the README's ablations)."""
    train = config.train
    if "symmetric" in parts:  # round three's mirrored replay stands in
        train = replace(train, symmetric=False, mirror=True)
    if "history" in parts:
        train = replace(train, history=False)
    return replace(config, train=train)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def oracle_expectation(edge: Edge, days: int, config) -> dict:
    market = simulated_market("EURUSD", START, START + timedelta(days=days), seed=ORACLE_SEED,
                              edge=edge)
    returns = schedule_returns(market.data, oracle_positions(market.signal), config.env)
    est = sharpe_estimate(returns, market.data.times[1:])
    return est.as_dict()


def run_seed(name: str, edge: Edge, seed: int, days: int, config) -> list[dict]:
    """One market and seed: its folds as table rows (the last carries the pooled figures)."""
    started = time.perf_counter()
    market = simulated_market("EURUSD", START, START + timedelta(days=days), seed=seed,
                              edge=edge)
    folds = run_folds(market.data, config.with_seed(seed), market.signal)
    rows = []
    for fold in folds:
        row = {"market": name, "seed": seed, **fold.row()}
        row.update({f"{s}_sr": fold.sharpe[s].sharpe for s in fold.sharpe})
        row["validation_sr"] = fold.trained.validation_sharpe.sharpe
        row.update(signal_following(fold, market.signal))
        rows.append(row)
    pooled = pooled_sharpe(folds, "td3")
    returns = np.concatenate([books_returns(f.books["td3"])[0] for f in folds])
    rows[-1].update(_pooled=pooled.text(), _per_bar=per_bar_sharpe(returns), _returns=returns)
    log(f"{name} seed {seed}: {len(folds)} folds in {time.perf_counter() - started:.0f} s, "
        f"TD3 pooled test Sharpe {pooled.text()}, deployable "
        f"{sum(f.deployable for f in folds)}/{len(folds)}")
    return rows


def signal_following(fold, signal: np.ndarray) -> dict:
    """Does TD3 trade the edge? Its position's correlation with the edge's signal on the test
    window (the oracle's is about 0.5; 0 on the no-edge market, where the signal is 0), and
    its turnover a day (the oracle's is about 28)."""
    books = fold.books["td3"]
    positions = np.array([p["size"] for p in books.positions])
    test = signal[fold.trained.split.test][:len(positions)]
    moving = positions.std() > 0 and test.std() > 0
    return {"td3_corr": float(np.corrcoef(positions, test)[0, 1]) if moving else 0.0,
            "td3_turnover": books.turnover / max(fold.sharpe["td3"].days, 1e-9),
            "td3_long": float(np.mean(positions > 0)), "td3_short": float(np.mean(positions < 0))}


def summary(rows: list[dict]) -> dict:
    frame = pd.DataFrame(rows)
    out = {"folds": len(frame), "deploy_rate": float(frame["deployable"].mean()),
           "td3_corr": float(frame["td3_corr"].mean()),
           "td3_turnover": float(frame["td3_turnover"].mean()),
           "td3_long": float(frame["td3_long"].mean()),
           "td3_short": float(frame["td3_short"].mean()),
           # the most one-sided fold: a policy that holds a side whatever the signal
           "td3_one_side_max": float(frame[["td3_long", "td3_short"]].max(axis=1).max())}
    for s in STRATEGIES:
        if f"{s}_sr" in frame:
            out[f"{s}_mean"] = float(frame[f"{s}_sr"].mean())
            out[f"{s}_std"] = float(frame[f"{s}_sr"].std(ddof=1)) if len(frame) > 1 else 0.0
    # The seed a person would pick (best mean validation Sharpe), deflated over all seeds.
    per_seed = frame.groupby("seed")["validation_sr"].mean()
    chosen = int(per_seed.idxmax())
    ends = frame[frame["_per_bar"].notna()].set_index("seed")
    returns = ends.loc[chosen, "_returns"]
    out["chosen_seed"] = chosen
    out["chosen_dsr"] = deflated_sharpe(returns, ends["_per_bar"].to_numpy())
    return out


def print_table(name: str, rows: list[dict], stats: dict) -> None:
    frame = pd.DataFrame(rows)
    columns = ["seed", "fold", "test_from", "test_days", "validation_sharpe", "deployable",
               *[f"{s}_sharpe" for s in STRATEGIES if f"{s}_sharpe" in frame]]
    log(f"\n== {name} market: test Sharpe (annualized) [95% interval] per seed and fold")
    log(frame[columns].to_string(index=False))
    line = ", ".join(f"{s} {stats[f'{s}_mean']:+.2f} +- {stats[f'{s}_std']:.2f}"
                     for s in STRATEGIES if f"{s}_mean" in stats)
    log(f"mean +- std over seeds x folds: {line}")
    log(f"TD3's position vs the edge signal: correlation {stats['td3_corr']:+.3f}, turnover "
        f"{stats['td3_turnover']:.1f} a day, long {stats['td3_long']:.0%} / short "
        f"{stats['td3_short']:.0%} of the time (mean over seeds x folds; the most one-sided "
        f"fold {stats['td3_one_side_max']:.0%} on one side)")
    log(f"deployable (validation interval above 0): {stats['deploy_rate']:.0%} of folds; "
        f"chosen seed {stats['chosen_seed']}: deflated Sharpe ratio {stats['chosen_dsr']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=1,
                        help="seeds first-seed .. first-seed + seeds - 1 (another sample)")
    parser.add_argument("--timesteps", type=int, default=LEARNING.train.timesteps)
    # A year per market: 3 folds test about 30 trading days each. On 3.5-day windows the
    # oracle's own Sharpe was noise (+0.7 +- 11.5 against +3.5 expected), and so was any
    # ratio to it.
    parser.add_argument("--days", type=int, default=365, help="calendar days per market")
    parser.add_argument("--folds", type=int, default=LEARNING.split.folds)
    parser.add_argument("--edge", type=float, default=MODEST_EDGE.strength)
    parser.add_argument("--period", type=int, default=MODEST_EDGE.period,
                        help="the edge signal's Wilder period (minutes)")
    parser.add_argument("--decision-bars", type=int, default=LEARNING.env.decision_bars,
                        help="bars between the policy's decisions")
    parser.add_argument("--oracle-days", type=int, default=364)
    parser.add_argument("--jobs", type=int, default=1, help="markets x seeds trained at once")
    parser.add_argument("--without", choices=("symmetric", "history"), action="append",
                        default=[], help="take a part of LEARNING away (repeatable)")
    args = parser.parse_args()
    started = time.perf_counter()
    config = LEARNING.with_budget(args.timesteps, args.folds)
    config = replace(config, env=replace(config.env, decision_bars=args.decision_bars))
    config = without(config, args.without)
    edge = Edge(strength=args.edge, period=args.period)
    expected = oracle_expectation(edge, args.oracle_days, config)
    log(f"edge strength {edge.strength}: oracle's expected Sharpe after costs "
        f"{expected['sharpe']:+.2f} [{expected['low']:+.2f}, {expected['high']:+.2f}] "
        f"({expected['days']:.0f} trading days simulated)")
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    tasks = [(name, market_edge, seed, args.days, config)
             for name, market_edge in (("edge", edge), ("noedge", NO_EDGE)) for seed in seeds]
    # Processes, not threads: torch runs one thread per process (TrainConfig.threads).
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        done = list(pool.map(run_seed, *zip(*tasks, strict=True)))
    results = {}
    for name in ("edge", "noedge"):
        rows = [row for rows in done for row in rows if row["market"] == name]
        results[name] = summary(rows)
        print_table(name, rows, results[name])
    e, n = results["edge"], results["noedge"]
    print(json.dumps({
        "edge_strength": edge.strength, "edge_period": edge.period,
        "edge_oracle_expected_sharpe": round(expected["sharpe"], 3),
        "edge_td3_sharpe": round(e["td3_mean"], 3), "edge_td3_sharpe_std": round(e["td3_std"], 3),
        "edge_oracle_sharpe": round(e["oracle_mean"], 3),
        "edge_capture": round(e["td3_mean"] / e["oracle_mean"], 3),
        "edge_ma_crossover_sharpe": round(e["ma_crossover_mean"], 3),
        "edge_deploy_rate": round(e["deploy_rate"], 3),
        "edge_td3_signal_corr": round(e["td3_corr"], 3),
        "edge_td3_turnover_per_day": round(e["td3_turnover"], 2),
        "edge_td3_one_side_max": round(e["td3_one_side_max"], 3),
        "edge_chosen_dsr": round(e["chosen_dsr"], 3),
        "noedge_td3_sharpe": round(n["td3_mean"], 3),
        "noedge_false_deploy_rate": round(n["deploy_rate"], 3),
        "seeds": args.seeds, "first_seed": args.first_seed, "folds": args.folds,
        "timesteps": args.timesteps,
        "decision_bars": config.env.decision_bars,
        "hold_bars": config.train.hold_bars, "without": args.without,
        "days": args.days, "jobs": args.jobs, "wall_s": round(time.perf_counter() - started, 1),
    }))


if __name__ == "__main__":
    main()

"""The agent's settings: trading costs, reward, risk limits, the split and TD3's budget.

Plain dataclasses (stored as JSON with each policy), so a policy records exactly what it was
trained with and an evaluation can rebuild the same environment.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace


@dataclass(frozen=True)
class EnvConfig:
    """The trading environment.

    Position p in [-1, 1] is a fraction of the maximum exposure `leverage` x equity. A change
    of position by dp pays |dp| x leverage x (half the bar's spread / close + slippage +
    commission), as fractions of equity. Holding p over the next bar earns
    p x leverage x (close_t+1 / close_t - 1).

    Reward per step: the differential Sharpe ratio of the step's net return (Moody & Saffell,
    moving averages with rate `dsr_eta`; variance floored at `dsr_var_floor`, clipped to
    +-`reward_clip`), minus `drawdown_penalty` x (drawdown beyond `drawdown_threshold`).

    `reward` "return" instead: the step's net return x `reward_scale` (a plain PnL signal
    that a critic regresses easily; the costs are in it, so churning is penalized).

    Risk shield (prop-firm rules): a loss of `max_daily_loss` from the UTC day's opening
    equity, or a drawdown of `max_drawdown` from the equity's high-water mark, flattens the
    position and ends the episode.
    """

    leverage: float = 10.0
    commission: float = 0.00002  # per unit of notional traded (0.2 bp: an ECN's $2/100k side)
    slippage: float = 0.00001  # per unit of notional traded
    dsr_eta: float = 0.01
    dsr_var_floor: float = 1e-10
    reward_clip: float = 5.0
    drawdown_penalty: float = 10.0
    drawdown_threshold: float = 0.02
    max_daily_loss: float = 0.05
    max_drawdown: float = 0.10
    obs_clip: float = 10.0  # scaled features beyond +-10 sigma are clipped
    # False: the close price's level reads 0 in the observation. Its z-score is fitted on the
    # training window and drifts out of range later; a policy keyed to it holds one side.
    price_level: bool = True
    # "gated": action (target, signal), traded only when signal > 0; "levels": the target
    # rounded to -1, 0 or +1 and always traded (no gate to discover, no churn of small moves);
    # "target": the target always traded (the critic's value is smooth in the action)
    action_mapping: str = "gated"
    # The policy decides every `decision_bars` bars (counted from the window's or episode's
    # first bar) and holds in between: between decisions an action is ignored. Training
    # steps by holding periods of `TrainConfig.hold_bars` (default: these).
    decision_bars: int = 1
    # A cost-aware deadband: the position moves only when the target is more than `band`
    # away from it, so small wobbles of the actor's output do not pay the spread.
    band: float = 0.0
    hysteresis: str = "jump"  # beyond the band: "jump" to the target, "play": to band behind it
    reward: str = "dsr"  # "dsr" (differential Sharpe) or "return" (scaled net return)
    reward_scale: float = 1000.0  # "return" only: 1e-3 of equity per step reads as 1.0

    def __post_init__(self) -> None:
        if self.action_mapping not in ("gated", "levels", "target"):
            raise ValueError(f"action_mapping must be 'gated', 'levels' or 'target', got "
                             f"{self.action_mapping!r}")
        if self.decision_bars < 1 or not 0.0 <= self.band < 2.0:
            raise ValueError(f"decision_bars must be >= 1 and band in [0, 2), got "
                             f"{self.decision_bars} and {self.band}")
        if self.hysteresis not in ("jump", "play"):
            raise ValueError(f"hysteresis must be 'jump' or 'play', got {self.hysteresis!r}")
        if self.reward not in ("dsr", "return"):
            raise ValueError(f"reward must be 'dsr' or 'return', got {self.reward!r}")


@dataclass(frozen=True)
class SplitConfig:
    """Walk-forward split by time: train, then validation, then test, with purge gaps."""

    train: float = 0.6
    validation: float = 0.2
    purge_bars: int = 60  # bars dropped between windows: indicator look-backs do not straddle
    embargo_bars: int = 0  # more bars dropped between windows: serially correlated returns
    folds: int = 1  # expanding walk-forward folds (data.walk_forward_folds)


@dataclass(frozen=True)
class TrainConfig:
    """TD3's budget and hyperparameters (small defaults: minutes on 2 CPU cores)."""

    timesteps: int = 5_000
    seed: int = 7
    learning_rate: float = 1e-3
    buffer_size: int = 100_000
    batch_size: int = 128
    learning_starts: int = 500
    gamma: float = 0.99
    tau: float = 0.005
    policy_delay: int = 2
    action_noise: float = 0.2
    net_arch: tuple[int, ...] = (64, 64)
    train_freq: int = 1  # env steps between gradient updates (SB3's train_freq)
    gradient_steps: int = 1  # gradient updates each time (SB3's gradient_steps)
    episode_bars: int = 1_440  # a training episode: a random day-long stretch of the window
    threads: int = 1  # torch threads: small networks train faster on one (measured)
    # Share of each replay batch relabelled with random prior positions and actions, their
    # rewards recomputed from the stored market return (agent/relabel.py); 0: plain TD3.
    relabel: float = 0.0
    # Half the relabelled samples mirrored (agent/relabel.py): a currency pair has no
    # preferred direction, so the critic learns none from the training window. Symmetric
    # critics (`symmetric`) make it exact and redundant: a mirrored sample's loss is the
    # sample's own.
    mirror: bool = False
    # How the trained model acts (validation, tests, evaluation, `underdog agent act`;
    # agent/acting.py): "actor", TD3's actor; "greedy_levels", the target among -1, 0, +1
    # its critics value most from the current position (a cost-aware hysteresis), and the
    # critics back up that choice's value, not the actor's. Needs action_mapping "target"
    # or "levels" (a "gated" action's signal is set to trade).
    acting: str = "actor"
    # Critics exactly symmetric under mirroring the pair (agent/symmetry.py): no side is
    # preferred for any input, seen in training or not (mirrored replay alone left greedy
    # policies on one side of fresh windows).
    symmetric: bool = False
    # Bars per training transition (`env.Decisions`: the action held, the returns summed);
    # 0: the environment's decision_bars. A per-minute edge of a few percent of the bar's
    # noise is a visible share of a 5-minute sum; the deployed policy may still decide
    # every bar (EnvConfig.decision_bars), asking critics that value a 5-bar hold.
    hold_bars: int = 0
    # Replay every bar of the training window's holding periods before learning
    # (agent/history.py); needs relabel 1.0. The buffer grows to hold them.
    history: bool = False

    def __post_init__(self) -> None:
        if self.acting not in ("actor", "greedy_levels"):
            raise ValueError(f"acting must be 'actor' or 'greedy_levels', got {self.acting!r}")
        if not 0.0 <= self.relabel <= 1.0:
            raise ValueError(f"relabel is a share of each batch, in [0, 1], got {self.relabel}")
        if self.hold_bars < 0:
            raise ValueError(f"hold_bars must be >= 0 (0: the env's decision_bars), got "
                             f"{self.hold_bars}")
        if self.history and self.relabel < 1.0:
            raise ValueError("history replay needs relabel 1.0: its rows carry no action")


@dataclass(frozen=True)
class AgentConfig:
    env: EnvConfig = field(default_factory=EnvConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return asdict(self)

    def with_seed(self, seed: int) -> AgentConfig:
        return replace(self, train=replace(self.train, seed=seed))

    def with_budget(self, timesteps: int, folds: int | None = None) -> AgentConfig:
        split = self.split if folds is None else replace(self.split, folds=folds)
        return replace(self, split=split, train=replace(self.train, timesteps=timesteps))

    @classmethod
    def from_dict(cls, data: dict) -> AgentConfig:
        """Rebuild from `to_dict` output; unknown keys are an error, missing ones default."""
        parts = {}
        for part in fields(cls):
            kind = {"env": EnvConfig, "split": SplitConfig, "train": TrainConfig}[part.name]
            values = dict(data.get(part.name, {}))
            unknown = set(values) - {f.name for f in fields(kind)}
            if unknown:
                raise ValueError(f"unknown {part.name} settings: {sorted(unknown)}")
            if "net_arch" in values:
                values["net_arch"] = tuple(values["net_arch"])
            parts[part.name] = kind(**values)
        return cls(**parts)


# What learns the simulator's planted edge (bench/learn.py, the demo, the slow test); see the
# README's "Does the agent learn?" for what mattered. Leverage 1: the Sharpe is the same, but
# at 3 the 10 % drawdown shield ended month-long test windows early (the oracle's too); the
# reward scale keeps a step's reward the size it had at 3. The agent acts greedily over
# -1, 0, +1 through its critics (`acting`): a cost-aware hysteresis like the oracle's. The
# critics learn 5-bar holding periods (`hold_bars`) of every bar of the training window
# (`history`), each replayed with random positions and actions (`relabel`), and are
# symmetric under mirroring the pair (`symmetric`). The policy decides every bar: the
# edge's signal decays in about 14 minutes, and deciding every 5 bars lost most of it.
LEARNING = AgentConfig(
    env=EnvConfig(leverage=1.0, reward="return", reward_scale=3000.0, action_mapping="target",
                  price_level=False, decision_bars=1, band=0.0),
    split=SplitConfig(train=0.5, validation=0.15, purge_bars=60, embargo_bars=60, folds=3),
    train=TrainConfig(timesteps=10_000, learning_starts=500, batch_size=64, gamma=0.9,
                      net_arch=(32, 32), train_freq=1, hold_bars=5, relabel=1.0,
                      acting="greedy_levels", symmetric=True, history=True),
)

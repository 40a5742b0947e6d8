"""The agent's settings: trading costs, reward, risk limits, the split and TD3's budget.

Plain dataclasses (stored as JSON with each policy), so a policy records exactly what it was
trained with and an evaluation can rebuild the same environment.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


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
    reward: str = "dsr"  # "dsr" (differential Sharpe) or "return" (scaled net return)
    reward_scale: float = 1000.0  # "return" only: 1e-3 of equity per step reads as 1.0

    def __post_init__(self) -> None:
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
    episode_bars: int = 1_440  # a training episode: a random day-long stretch of the window
    threads: int = 1  # torch threads: small networks train faster on one (measured)


@dataclass(frozen=True)
class AgentConfig:
    env: EnvConfig = field(default_factory=EnvConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return asdict(self)

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

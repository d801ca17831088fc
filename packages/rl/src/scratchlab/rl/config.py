"""Config dataclasses shared by both backends: environments, agent, algorithms, the task.

Every algorithm keeps its hyperparameters in one dataclass (CleanRL style), so a spec's
``algorithm: {name: ppo, clip_coef: 0.1}`` reads like the paper's table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from scratchlab.core.config import choice

# --- environments ------------------------------------------------------------------------------

@dataclass
class CartPoleConfig:
    """Gymnasium's CartPole-v1 (reward +1 per step, truncated at 500 steps)."""

    max_episode_steps: int = 500

    def __post_init__(self) -> None:
        if self.max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be positive, got {self.max_episode_steps}")


@dataclass
class CorridorConfig:
    """Sutton & Barto's short corridor with switched actions (Example 13.1)."""

    max_episode_steps: int = 200  # a cap, so that a policy that never goes right still ends

    def __post_init__(self) -> None:
        if self.max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be positive, got {self.max_episode_steps}")


# --- the agent ---------------------------------------------------------------------------------

@dataclass
class AgentConfig:
    """Separate actor and critic MLPs (tanh), initialised like CleanRL (orthogonal)."""

    hidden: int = 64
    depth: int = 2  # hidden layers; 0 makes each network linear
    # "constant": the actor sees only a constant 1, so it cannot tell states apart (the
    # short corridor's aliasing); the critic always sees the observation.
    actor_input: Literal["obs", "constant"] = "obs"

    def __post_init__(self) -> None:
        if self.hidden < 1 or self.depth < 0:
            raise ValueError("hidden must be positive and depth non-negative")


# --- algorithms --------------------------------------------------------------------------------

Estimator = Literal["return", "constant", "value", "td", "gae"]


@dataclass
class PGConfig:
    """The policy-gradient family: each batch is ``batch_episodes`` complete episodes.

    ``estimator`` (fixed per registered name) picks what multiplies grad log pi:
    return (REINFORCE, reward-to-go), constant (G_t - b), value (G_t - V(s_t)), td
    (one-step actor-critic), gae (GAE(lambda)).
    """

    lr: float = 1e-2  # the actor's (Adam)
    critic_lr: float = 1e-2  # the critic's (Adam), also used to fit it before a measurement
    gamma: float = 0.99
    gae_lambda: float = 0.95  # used by the gae estimator only
    batch_episodes: int = 16
    baseline_decay: float = 0.9  # running mean of returns for the constant baseline
    normalize_advantages: bool = False
    max_grad_norm: float | None = None
    estimator: ClassVar[str] = "return"

    def __post_init__(self) -> None:
        if not self.lr > 0 or not self.critic_lr > 0:
            raise ValueError(f"lr and critic_lr must be positive, got {self.lr}, {self.critic_lr}")
        if not 0.0 <= self.gamma <= 1.0 or not 0.0 <= self.gae_lambda <= 1.0:
            raise ValueError("gamma and gae_lambda must lie in [0, 1]")
        if self.batch_episodes < 1:
            raise ValueError(f"batch_episodes must be positive, got {self.batch_episodes}")

    @property
    def num_envs(self) -> int:
        return self.batch_episodes


@dataclass
class ReinforceConfig(PGConfig):
    estimator: ClassVar[str] = "return"


@dataclass
class ConstantBaselineConfig(PGConfig):
    estimator: ClassVar[str] = "constant"


@dataclass
class ValueBaselineConfig(PGConfig):
    estimator: ClassVar[str] = "value"


@dataclass
class ActorCriticConfig(PGConfig):
    estimator: ClassVar[str] = "td"


@dataclass
class GAEConfig(PGConfig):
    estimator: ClassVar[str] = "gae"


@dataclass
class PPOConfig:
    """CleanRL's ppo.py defaults for CartPole-v1."""

    lr: float = 2.5e-4
    num_envs: int = 4
    num_steps: int = 128  # per env per rollout
    anneal_lr: bool = True
    gamma: float = 0.99
    gae_lambda: float = 0.95
    num_minibatches: int = 4
    update_epochs: int = 4
    norm_adv: bool = True
    clip_coef: float = 0.2
    clip_vloss: bool = True
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    target_kl: float | None = None
    # bootstrap a time-limit truncation with gamma V(s_T) instead of treating it as a failure
    # (Pardo et al., 2018); CleanRL does not (False), see docs/rl.md#time-limits
    bootstrap_truncated: bool = False
    estimator: ClassVar[str] = "gae"

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.num_envs < 1 or self.num_steps < 1:
            raise ValueError("num_envs and num_steps must be positive")
        if self.num_minibatches < 1 or (self.num_envs * self.num_steps) % self.num_minibatches:
            raise ValueError(f"num_envs * num_steps ({self.num_envs * self.num_steps}) must be "
                             f"divisible by num_minibatches ({self.num_minibatches})")

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches


# --- the rl task -------------------------------------------------------------------------------

@dataclass
class RLTrainConfig:
    total_steps: int = 500_000  # environment steps
    window: int = 20  # episodes in the running mean of returns
    target_return: float = 475.0  # steps_to_target: first env step where the mean reaches it

    def __post_init__(self) -> None:
        if self.total_steps < 1 or self.window < 1:
            raise ValueError("total_steps and window must be positive")


@dataclass
class VarianceConfig:
    """Gradient-estimator statistics at the initial (fixed) policy parameters; 0 batches = off.

    The critic and the constant baseline are first fitted on ``critic_fit_batches`` batches;
    the reference gradient is the exact one on the short corridor (state-blind actor), else
    the mean of the unbiased learned-baseline estimator over ``reference_batches`` batches
    (the same random numbers for every estimator)."""

    batches: int = 0
    reference_batches: int = 400
    critic_fit_batches: int = 50

    def __post_init__(self) -> None:
        if self.batches < 0 or self.reference_batches < 2 or self.critic_fit_batches < 0:
            raise ValueError("batches >= 0, reference_batches >= 2 and critic_fit_batches >= 0")
        if self.batches == 1:
            raise ValueError("a variance needs at least 2 batches (or 0 to switch it off)")


@dataclass
class RLConfig:
    env: Any = choice("env", "cartpole")
    algorithm: Any = choice("algorithm", "ppo")
    agent: AgentConfig = field(default_factory=AgentConfig)
    train: RLTrainConfig = field(default_factory=RLTrainConfig)
    variance: VarianceConfig = field(default_factory=VarianceConfig)

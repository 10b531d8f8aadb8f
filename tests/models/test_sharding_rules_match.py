"""Every sharding rule must match a variable of the model it shards; one that matches none is an error."""

from __future__ import annotations

from types import SimpleNamespace

import jax
import numpy as np
import pytest
from abstract_models import abstract_backbone
from jax.sharding import Mesh

from gemma_jax.models import registry
from gemma_jax.parallel.sharding_rules import UnmatchedShardingRuleError, check_rules_match, model_shardings


@pytest.mark.parametrize("name", ["gemma_2b_en", "gemma2_9b_en", "gemma3_270m"])
def test_every_rule_matches_a_variable_of_every_gemma(name):
    backbone = abstract_backbone(registry.find_variant(name).shape, "bfloat16")
    check_rules_match(v.path for v in backbone.variables)


def test_a_rule_that_matches_no_variable_is_named_in_the_error():
    backbone = abstract_backbone(registry.find_variant("gemma3_270m").shape, "bfloat16")
    # As if Keras-Hub renamed the attention output projection: its rules would silently replicate it.
    renamed = [v.path.replace("attention_output", "output_proj") for v in backbone.variables]
    with pytest.raises(UnmatchedShardingRuleError) as raised:
        check_rules_match(renamed)
    message = str(raised.value)
    assert "RULES 'attention/attention_output/kernel$'" in message
    assert "PACKED_RULES 'attention/attention_output/kernel$'" in message
    assert "query" not in message.split("match no variable")[0]  # only the unmatched rules are named


def test_model_shardings_checks_the_whole_model_not_each_half():
    """LoRA's trainable half alone (adapter factors only) matches few rules; the check runs on all variables."""
    mesh = Mesh(np.array(jax.devices()[:1]).reshape(1, 1, 1), ("data", "fsdp", "model"))
    paths = ["token_embedding/embeddings"] + [
        f"decoder_block_0/{name}/kernel"
        for name in ("attention/query", "attention/key", "attention/value", "attention/attention_output")
        + ("ffw_gating", "ffw_gating_2", "ffw_linear")
    ]
    frozen = [SimpleNamespace(path=path, shape=(4, 4, 4) if "attention/" in path else (4, 4)) for path in paths]
    trainable = [SimpleNamespace(path="decoder_block_0/attention/query/lora_kernel_a", shape=(4, 4, 2))]
    model = SimpleNamespace(variables=frozen + trainable, trainable_variables=trainable, non_trainable_variables=frozen)
    trainable_specs, frozen_specs = model_shardings(model, mesh)
    assert (len(trainable_specs), len(frozen_specs)) == (1, len(frozen))
    model.variables = trainable  # as if the frozen base were missing: no rule but the query's matches
    with pytest.raises(UnmatchedShardingRuleError, match="token_embedding"):
        model_shardings(model, mesh)

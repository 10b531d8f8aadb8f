"""A model whose embedding has more rows than its tokenizer has pieces (a `random:` full-size shape with a
vocabulary trained on the data) never produces an id the tokenizer cannot turn into text (issue 13)."""

from gemma_jax.config import JobConfig
from gemma_jax.data import data_texts
from gemma_jax.models.generation import Generator
from gemma_jax.models.loaded_model import LoadedModel
from gemma_jax.models.loading import TINY_VOCABULARY_SIZE, build_backbone
from gemma_jax.models.tiny_vocab import train_tiny_vocab
from gemma_jax.models.tokenizer import GemmaTextTokenizer


def test_ids_past_the_tokenizer_are_never_chosen():
    tokenizer = GemmaTextTokenizer(train_tiny_vocab(data_texts(JobConfig().data), vocab_size=TINY_VOCABULARY_SIZE))
    backbone, family = build_backbone("gemma3", tokenizer.vocabulary_size + 3000, dtype="float32", seed=0)
    model = LoadedModel(backbone, tokenizer, "test", family, 256)
    generator = Generator(model, max_length=64)
    for seed in range(4):  # sampling over the whole vocabulary: most of the random head's rows are past the pieces
        ids = generator.generate_token_ids([[tokenizer.bos_id, 5, 6]], 24, temperature=2.0, top_k=None, seed=seed)[0]
        assert ids and max(ids) < tokenizer.vocabulary_size
        tokenizer.decode(ids)  # "piece id is out of range" before
    assert generator.generate(["hello"], 8, top_k=None) is not None

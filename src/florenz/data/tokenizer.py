"""A small subword tokenizer trained on a data set's own text (the micro world's stand-in for the
Gemma-2 / BART tokenizers). Metaspace pre-tokenisation keeps decoding lossless for every script.

Scripts written without spaces (Han, kana) are split into single characters before BPE, as BERT does for
CJK: otherwise a Chinese sentence is one pre-token and BPE, trained on the micro world's few repetitive
sentences, merges across word boundaries into phrase tokens ("一个橙色的大菱形," was one token), so one
token fixes several attributes and a Chinese caption is not composed word by word. Tokenizers trained on
web-scale text (Gemma-2's) have Chinese characters and short words, not such phrases, as tokens."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from florenz.errors import FlorenzError

SPECIAL_TOKENS = {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
TOKENIZER_FILE = "tokenizer.json"
UNSPACED_SCRIPTS = r"[\p{Han}\p{Hiragana}\p{Katakana}]"  # one pre-token per character


def train_tokenizer(texts: Iterable[str], vocab_size: int = 2000) -> PreTrainedTokenizerFast:
    """Train a BPE tokenizer with ids 0..3 = <pad>, <s>, </s>, <unk>."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Metaspace(), pre_tokenizers.Split(Regex(UNSPACED_SCRIPTS), behavior="isolated")])
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS.values()), show_progress=False
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return wrap_tokenizer(tok)


def wrap_tokenizer(tok: Tokenizer) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(tokenizer_object=tok, **SPECIAL_TOKENS)


def save_tokenizer(tok: PreTrainedTokenizerFast, directory: str | Path) -> Path:
    path = Path(directory) / TOKENIZER_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tok.backend_tokenizer.save(str(path))
    return path


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerFast:
    """Load from a tokenizer.json file or a directory holding one (or a transformers tokenizer dir)."""
    path = Path(path)
    file = path / TOKENIZER_FILE if path.is_dir() else path
    hf_dir = path.is_dir() and any((path / n).exists() for n in ("tokenizer_config.json", "tokenizer.model",
                                                                 "vocab.json", "spiece.model"))
    if file.is_file() and file.name == TOKENIZER_FILE and not hf_dir:
        return wrap_tokenizer(Tokenizer.from_file(str(file)))
    if hf_dir:
        from transformers import AutoTokenizer

        try:
            return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError) as e:
            raise FlorenzError(f"tokenizer directory {path} cannot be loaded: {str(e).splitlines()[0]}") from None
    raise FlorenzError(f"tokenizer not found in {path} (expected {TOKENIZER_FILE} or a transformers tokenizer "
                       "directory; for data without one, set model.tokenizer_path)")

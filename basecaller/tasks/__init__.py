"""Classic sequence tasks as small heads on the recurrent core (``basecaller.nn``), trained by the
core's ``Trainer``:

* ``charlm``   character language model (many-to-many), truncated BPTT, sampling;
* ``classify`` many-to-one classifier (SST-2 sentiment, DNA splice junctions);
* ``tagger``   synced many-to-many tagger with character features (CoNLL-2003, WNUT-17 NER);
* ``seq2seq``  encoder-decoder with attention, greedy and beam decoding.

Each saves a model directory (``model_dir``: config.toml + weights.pt).
"""

from basecaller.tasks.charlm import (
    CharLM,
    CharLMOptions,
    evaluate_nats,
    load_charlm,
    sample,
    train_charlm,
)
from basecaller.tasks.classify import (
    ClassifierOptions,
    SequenceClassifier,
    evaluate_classifier,
    load_classification,
    load_classifier,
    per_class_accuracy,
    predict_ensemble,
    train_classifier,
)
from basecaller.tasks.model_dir import load_task_model, save_task_model
from basecaller.tasks.seq2seq import (
    Seq2Seq,
    Seq2SeqOptions,
    beam_decode,
    greedy_decode,
    load_seq2seq,
    make_splits,
    train_seq2seq,
)
from basecaller.tasks.tagger import (
    TaggerOptions,
    WordTagger,
    entity_scores,
    evaluate_tagger,
    evaluate_taggers,
    load_tagger,
    load_tagging,
    train_tagger,
)
from basecaller.training.fit import FitOptions

__all__ = [
    "CharLM",
    "CharLMOptions",
    "ClassifierOptions",
    "FitOptions",
    "Seq2Seq",
    "Seq2SeqOptions",
    "SequenceClassifier",
    "TaggerOptions",
    "WordTagger",
    "beam_decode",
    "entity_scores",
    "evaluate_classifier",
    "evaluate_nats",
    "evaluate_tagger",
    "evaluate_taggers",
    "greedy_decode",
    "load_charlm",
    "load_classification",
    "load_classifier",
    "load_task_model",
    "load_seq2seq",
    "load_tagger",
    "load_tagging",
    "make_splits",
    "per_class_accuracy",
    "predict_ensemble",
    "sample",
    "save_task_model",
    "train_charlm",
    "train_classifier",
    "train_seq2seq",
    "train_tagger",
]

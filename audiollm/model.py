"""AudioLLM: Whisper encoder -> ln_speech -> adaptor -> causal LM, merged at speech placeholders.

Read top to bottom, the data path is:

    input_features (W, M, F)      W audio windows (all audios of the batch, in order), M mels, F = 3000 frames
      -> speech_encoder            (W, T, C)   T = 1500 encoder frames, C encoder width
      -> ln_speech                 (W, T, C)
      -> stack_frames              (W, N, k*C) N = T / k speech tokens per window
      -> speech_audio_adapter      (W, N, D)   D decoder width
      (-> pool_rows                (W, N/P, D) with config.frame_row_pool P: groups of P rows averaged)
      (+ speech_voice_adapter      (W, V, D)   V voice rows per window from its pooled frames, placed first)
      (+ speech_transcriber        (W, K, D)   K transcript rows per window from Whisper's own decoder, placed
                                               last; it reads 30 s padded `transcript_features`, transcript_rows.py)
                                   flattened to (S, D) = (W*(V+N+K), D)
    input_ids (B, L) with S placeholder ids
      -> token embeddings          (B, L, D)   placeholders replaced by the speech rows, in order
      -> text_decoder              logits (B, L, V)

Module names match the released MERaLiON checkpoints (`speech_encoder`, `ln_speech`,
`speech_audio_adapter`, `text_decoder`), so their weights load without renaming.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoModelForCausalLM
from transformers.initialization import no_init_weights
from transformers.modeling_outputs import CausalLMOutputWithPast
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from audiollm.adaptors import VoiceSummary, build_adaptor, pool_rows, stack_frames
from audiollm.config import AudioLLMConfig
from audiollm.errors import ModelNotFoundError, PromptError
from audiollm.gender_row import GenderRow
from audiollm.reader_copy import ReaderCopy
from audiollm.transcript_rows import TranscriptReader

IGNORE_INDEX = -100  # label value of positions without loss (the prompt, the audio, padding)
WEIGHTS_NAME = "model.safetensors"
INDEX_NAME = "model.safetensors.index.json"


def whisper_encoder_states(encoder: WhisperEncoder, features: torch.Tensor, mel_mask: torch.Tensor | None = None):
    """Whisper's encoder on fewer than 30 s of log-mels: (W, M, F) -> (W, ceil(F/2), C) states, and the
    (W, ceil(F/2)) frame mask (None without `mel_mask`).

    Reuses the encoder's own modules, but slices the positional table to the input's length (HF's
    forward insists on exactly 30 s). With `mel_mask` (W, F), padded frames are masked out of attention
    and conv outputs there are zeroed, so a window's states do not depend on what it was batched with
    (stage 2). Without it, padding is plain silence that every frame attends to, as in Whisper's own
    training on 30 s padded input (stage 1, whose Whisper decoder cannot mask its cross-attention).
    """
    hidden = nn.functional.gelu(encoder.conv1(features))
    frame_mask = attention_mask = None
    if mel_mask is not None:
        mel_mask = mel_mask.to(features.dtype)
        hidden = hidden * mel_mask[:, None, :]
        frame_mask = mel_mask[:, ::2]  # conv2 has stride 2: frame t covers mel frames 2t-1..2t+1
    hidden = nn.functional.gelu(encoder.conv2(hidden))
    if frame_mask is not None:
        hidden = hidden * frame_mask[:, None, :]
    hidden = hidden.permute(0, 2, 1)  # (W, T, C)
    time = hidden.shape[1]
    if time > encoder.embed_positions.weight.shape[0]:
        raise PromptError(f"a window of {time} encoder frames is longer than the encoder's 30 s")
    hidden = hidden + encoder.embed_positions.weight[:time]
    if frame_mask is not None:  # additive (W, 1, T, T): padded keys get the most negative value, as HF's do
        blocked = (1.0 - frame_mask)[:, None, None, :] * torch.finfo(hidden.dtype).min
        attention_mask = blocked.expand(-1, 1, time, -1)
    for layer in encoder.layers:
        hidden = layer(hidden, attention_mask)
    return encoder.layer_norm(hidden), frame_mask


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, L) 0/1 mask -> (B, L) positions counting only real tokens; padded slots get 1.

    With left padding this gives a padded row the same positions as the row alone, which is what
    makes batched logits equal one-by-one logits (the reference does the same).
    """
    positions = attention_mask.long().cumsum(-1) - 1
    return positions.masked_fill(attention_mask == 0, 1)


class AudioLLM(nn.Module):
    """A speech-text LLM with the Hugging Face surface: from_pretrained, save_pretrained, forward, generate."""

    def __init__(self, config: AudioLLMConfig):
        super().__init__()
        self.config = config
        self.speech_encoder = WhisperEncoder(config.whisper_config())
        self.ln_speech = nn.LayerNorm(config.encoder_width)
        self.speech_audio_adapter = build_adaptor(
            config.adaptor, config.encoder_width, config.decoder_width,
            config.speech_mlp_scale_factor, config.adaptor_dropout,
        )
        self.speech_voice_adapter = self._voice_summary(config)
        self.speech_gender_row = GenderRow(config.encoder_width, config.decoder_width) if config.gender_row else None
        self.speech_transcriber = (TranscriptReader(config.whisper_config(), config.decoder_width, config.adaptor_dropout,
                                                    config.transcript_no_speech_row, config.transcript_language_row)
                                   if config.transcript_rows_per_second else None)
        self.text_decoder = AutoModelForCausalLM.from_config(config.decoder_config())

    @staticmethod
    def _voice_summary(config: AudioLLMConfig) -> VoiceSummary | None:
        if not config.voice_rows:
            return None  # no module, no keys: MERaLiON's layout
        return VoiceSummary(config.encoder_width, config.decoder_width, config.voice_rows, config.adaptor_dropout)

    # ---- the data path --------------------------------------------------------------------------
    def encode_speech(
        self, input_features: torch.Tensor, feature_attention_mask: torch.Tensor | None = None,
        voice_gradient: bool = True, transcript_features: torch.Tensor | None = None, readings: list | None = None,
    ) -> torch.Tensor:
        """(W, M, F) log-mel windows -> (S, D) speech embeddings, the windows' tokens in order.

        fixed input: every window is 30 s and gives N = T / k tokens, so S = W * N.
        real input: window w has F_w real frames (feature_attention_mask) and gives
        ceil(ceil(F_w / 2) / k) tokens; padding never changes a window's embeddings.
        With config.frame_row_pool P, those rows are averaged in groups of P (ceil(N / P) per window).
        With config.voice_rows V, each window's V voice rows come first (S grows by W * V);
        voice_gradient=False detaches them (the CTC loss spells the transcript with the other rows).
        With config.gender_row, each window's gender row comes before its voice rows.
        With config.transcript_rows_per_second, each window's K_w transcript rows come last; they need
        the windows' 30 s padded `transcript_features` (W, M, 3000), which the processor adds; given a list
        `readings`, one (Whisper's greedy reading, a transcript_rows.WindowReading; the window's speech token
        count) pair per window is appended to it (the reader copy bias, audiollm/reader_copy.py).
        """
        frames, frame_mask = self.speech_frames(input_features, feature_attention_mask)
        dtype = self.ln_speech.weight.dtype
        factor = self.config.speech_mlp_scale_factor
        if frame_mask is None:
            speech = self.speech_audio_adapter(stack_frames(frames, factor))  # (W, N, D)
            speech, _ = pool_rows(speech, None, self.config.frame_row_pool)
            speech = self._summary_rows_first(speech, frames, None, voice_gradient)  # (W, V + N, D)
            return speech.reshape(-1, speech.shape[-1])
        # Zero the padded frames and pad T to a multiple of k, so a window's last token sees zeros
        # for its missing frames whatever it was batched with.
        frames = frames * frame_mask.unsqueeze(-1).to(dtype)
        tokens = (frame_mask.sum(dim=1) + factor - 1) // factor  # (W,) real tokens per window
        voice_source = frames
        frames = nn.functional.pad(frames, (0, 0, 0, (-frames.shape[1]) % factor))
        if self.config.frame_rows:
            speech = self.speech_audio_adapter(stack_frames(frames, factor))  # (W, N_max, D)
            speech, tokens = pool_rows(speech, tokens, self.config.frame_row_pool)
        else:  # what was said comes from the transcript rows alone
            speech, tokens = frames.new_zeros(frames.shape[0], 0, self.config.decoder_width), torch.zeros_like(tokens)
        speech = self._summary_rows_first(speech, voice_source, frame_mask, voice_gradient)  # (W, V + N_max, D)
        tokens = tokens + self.config.summary_rows
        keep = torch.arange(speech.shape[1], device=speech.device)[None, :] < tokens[:, None]
        if self.speech_transcriber is not None:
            if transcript_features is None:
                raise PromptError("this model has transcript rows: pass the processor's transcript_features")
            mel_frames = (feature_attention_mask.sum(1).tolist() if feature_attention_mask is not None
                          else [input_features.shape[-1]] * input_features.shape[0])
            rows = torch.tensor([self.config.transcript_rows_for(int(f)) for f in mel_frames], device=speech.device)
            written = [] if readings is not None else None
            transcript = self.transcript_rows(transcript_features, rows, written).to(speech.dtype)  # (W, K_max, D)
            transcript_keep = torch.arange(transcript.shape[1], device=speech.device)[None, :] < rows[:, None]
            speech, keep = torch.cat([speech, transcript], dim=1), torch.cat([keep, transcript_keep], dim=1)
            if readings is not None:
                readings.extend(zip(written, keep.sum(1).tolist()))
        return speech[keep]  # (sum of tokens, D), window by window

    def transcript_rows(self, transcript_features: torch.Tensor, rows: torch.Tensor,
                        written: list | None = None) -> torch.Tensor:
        """(W, M, 3000) 30 s padded log-mels and (W,) row counts -> (W, max rows, D) transcript rows (and each
        window's greedy reading appended to `written`, when given). Whisper's encoder and decoder only read
        here: no gradient reaches them."""
        with torch.no_grad():
            states = self.speech_encoder(transcript_features.to(self.dtype)).last_hidden_state
        return self.speech_transcriber(states, rows, written)

    def speech_frames(self, input_features: torch.Tensor, feature_attention_mask: torch.Tensor | None = None):
        """(W, M, F) log-mel windows -> (W, T, C) encoder frames after ln_speech, and the (W, T) mask of
        real frames (None with fixed 30 s input, where every frame counts)."""
        input_features = input_features.to(self.ln_speech.weight.dtype)
        if self.config.encoder_input == "fixed":
            return self.ln_speech(self.speech_encoder(input_features).last_hidden_state), None
        if feature_attention_mask is None:
            feature_attention_mask = torch.ones(input_features.shape[0], input_features.shape[-1],
                                                dtype=torch.long, device=input_features.device)
        frames, frame_mask = self._encode_real_length(input_features, feature_attention_mask)
        return self.ln_speech(frames), frame_mask

    @torch.no_grad()
    def pooled_windows(self, batches) -> torch.Tensor:
        """(N, 2C) float32 mean and standard deviation of each window's encoder frames (VoiceSummary.pool),
        for every window in `batches`, which yields (input_features, feature_attention_mask) pairs."""
        return torch.cat([VoiceSummary.pool(*self.speech_frames(features, mask)) for features, mask in batches]).float()

    def calibrate_voice_rows(self, batches) -> int:
        """Start the voice rows' standardisation at the pooled statistics of these windows (`batches` as
        for pooled_windows). Returns how many windows it pooled."""
        pooled = self.pooled_windows(batches)
        self.speech_voice_adapter.calibrate(pooled)
        return pooled.shape[0]

    def _summary_rows_first(self, speech: torch.Tensor, frames: torch.Tensor, frame_mask: torch.Tensor | None,
                          voice_gradient: bool) -> torch.Tensor:
        """(W, N, D) speech rows -> (W, G + V + N, D) with each window's gender row (G = 1 with one) and voice
        rows first (unchanged without either)."""
        first = []
        if self.speech_gender_row is not None:
            first.append(self.speech_gender_row(frames, frame_mask).to(speech.dtype))
        if self.speech_voice_adapter is not None:
            voice = self.speech_voice_adapter(frames, frame_mask).to(speech.dtype)
            first.append(voice if voice_gradient else voice.detach())
        return torch.cat(first + [speech], dim=1) if first else speech

    def _encode_real_length(self, features: torch.Tensor, mel_mask: torch.Tensor):
        """Whisper's encoder on unpadded windows: (W, M, F) + (W, F) -> (W, ceil(F/2), C) + frame mask."""
        return whisper_encoder_states(self.speech_encoder, features, mel_mask)

    def speech_rows(self, input_features: torch.Tensor, feature_attention_mask: torch.Tensor | None = None,
                    voice_gradient: bool = True, transcript_features: torch.Tensor | None = None,
                    readings: list | None = None) -> torch.Tensor:
        """(S, D) speech embeddings as the decoder reads them: with its token-embedding factor when
        config.scale_speech_embeddings (see embed_inputs). `readings` as for encode_speech."""
        speech = self.encode_speech(input_features, feature_attention_mask, voice_gradient, transcript_features,
                                    readings)
        scale = getattr(self.text_decoder.get_input_embeddings(), "embed_scale", None)  # Gemma 2 and 3 scale rows
        if self.config.scale_speech_embeddings and scale is not None:
            speech = speech * scale.to(speech.dtype)
        return speech

    def embed_inputs(
        self,
        input_ids: torch.Tensor,
        input_features: torch.Tensor | None,
        feature_attention_mask: torch.Tensor | None = None,
        transcript_features: torch.Tensor | None = None,
        readings: list | None = None,
    ) -> torch.Tensor:
        """(B, L) ids (+ (W, M, F) features) -> (B, L, D) decoder input embeddings (`readings` as for
        encode_speech).

        Placeholder rows are filled with the speech embeddings in row-major order: batch row 0's
        placeholders first, and within a row the windows in time order. Token rows come from the
        decoder's embedding module, which for Gemma multiplies them by sqrt(D); with
        config.scale_speech_embeddings the speech rows get the same factor, as in the reference, whose
        decoder multiplied every input row by it.
        """
        embedding = self.text_decoder.get_input_embeddings()
        embeds = embedding(input_ids)
        is_speech = input_ids == self.config.speech_token_index
        placeholders = int(is_speech.sum())
        if input_features is None or input_features.shape[0] == 0:
            if placeholders:
                raise PromptError(f"the prompt has {placeholders} speech placeholders but no audio was given")
            return embeds
        speech = self.speech_rows(input_features, feature_attention_mask,
                                  transcript_features=transcript_features, readings=readings)  # (S, D)
        if placeholders != speech.shape[0]:
            raise PromptError(
                f"the prompt has {placeholders} speech placeholder tokens but the audio gives "
                f"{speech.shape[0]} speech tokens; use AudioLLMProcessor to build inputs"
            )
        # masked_scatter consumes the (S, D) rows in order along the flattened placeholder positions.
        return embeds.masked_scatter(is_speech.unsqueeze(-1), speech.to(embeds.dtype))

    def forward(
        self,
        input_ids: torch.Tensor,
        input_features: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        feature_attention_mask: torch.Tensor | None = None,
        loss_reduction: str = "mean",
        labelled_logits_only: bool = False,
        speech_only: bool = False,
        transcript_features: torch.Tensor | None = None,
        **decoder_kwargs,
    ) -> CausalLMOutputWithPast | torch.Tensor:
        """Logits (B, L, V) and, given labels (B, L) with -100 on ignored positions, the next-token loss.

        loss_reduction: "mean" over labelled tokens, or "sum" (training normalises by the token count of
        the whole global batch, so gradients do not depend on how it is split over processes).
        labelled_logits_only: compute logits only where a next token is labelled — (K, V) instead of
        (B, L, V); with a 262k vocabulary this is most of a training step's memory.
        speech_only: return only speech_rows (S, D), no decoder pass (the CTC alignment loss, train/ctc.py;
        a forward mode rather than a method so that DistributedDataParallel sees the call). Voice rows
        are in it but detached: CTC would teach them to be blanks, and they are there to keep the voice.
        """
        if speech_only:
            return self.speech_rows(input_features, feature_attention_mask, voice_gradient=False)
        inputs_embeds = self.embed_inputs(input_ids, input_features, feature_attention_mask, transcript_features)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        position_ids = position_ids_from_mask(attention_mask)
        if labels is None or not (labelled_logits_only or loss_reduction != "mean"):
            return self.text_decoder(inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                                     position_ids=position_ids, labels=labels, **decoder_kwargs)
        hidden = self.text_decoder.base_model(
            inputs_embeds=inputs_embeds, attention_mask=attention_mask, position_ids=position_ids, **decoder_kwargs
        ).last_hidden_state
        targets = labels[:, 1:]
        labelled = targets != IGNORE_INDEX  # position t predicts token t + 1
        logits = self.text_decoder.get_output_embeddings()(hidden[:, :-1][labelled])  # (K, V)
        softcap = getattr(self.text_decoder.config, "final_logit_softcapping", None)
        if softcap:  # Gemma-2 squashes final logits with c * tanh(x / c)
            logits = softcap * torch.tanh(logits / softcap)
        loss = nn.functional.cross_entropy(logits.float(), targets[labelled], reduction=loss_reduction)
        return CausalLMOutputWithPast(loss=loss, logits=logits)

    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.Tensor,
        input_features: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        feature_attention_mask: torch.Tensor | None = None,
        transcript_features: torch.Tensor | None = None,
        reader_copy: ReaderCopy | None = None,
        **generate_kwargs,
    ) -> torch.Tensor:
        """Generate continuations; returns only the new token ids (B, new).

        The audio is encoded once into the prompt embeddings; the decoder's own `generate` then runs
        with its KV cache, so later steps never touch the audio again. Any transformers generation
        argument (max_new_tokens, do_sample, temperature, no_repeat_ngram_size, streamer, ...) passes through.
        With `reader_copy` (audiollm/reader_copy.py) and transcript rows, decoding leans towards continuing
        Whisper's own reading of each row's audio.
        """
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        readings = [] if reader_copy is not None and self.speech_transcriber is not None else None
        inputs_embeds = self.embed_inputs(input_ids, input_features, feature_attention_mask, transcript_features,
                                          readings)
        if readings:
            is_speech = input_ids == self.config.speech_token_index
            processors = list(generate_kwargs.pop("logits_processor", None) or [])
            ends = generate_kwargs.get("eos_token_id") or self.text_decoder.generation_config.eos_token_id
            generate_kwargs["logits_processor"] = processors + [reader_copy.bias(readings, is_speech.sum(1).tolist(), ends)]
        return self.text_decoder.generate(
            inputs_embeds=inputs_embeds, attention_mask=attention_mask, **generate_kwargs
        )

    def new_adaptor(self, seed: int = 0, fresh: bool = False, **changes) -> None:
        """Replace the adaptor by a freshly initialised one of another shape (`changes` to the config's
        `adaptor` and `speech_mlp_scale_factor`): a base gets an adaptor that stacks fewer frames before
        training, or takes the shape of trained parts it is about to load. The old adaptor is dropped;
        an adaptor that already has that shape is kept, unless `fresh` (an untrained control of a trained model)."""
        if not fresh and all(getattr(self.config, key) == value for key, value in changes.items()):
            return
        self.config = dataclasses.replace(self.config, **changes)
        old = self.speech_audio_adapter
        with torch.random.fork_rng(devices=[]):  # seeded, without moving anyone else's random stream
            torch.manual_seed(seed)
            adaptor = build_adaptor(self.config.adaptor, self.config.encoder_width, self.config.decoder_width,
                                    self.config.speech_mlp_scale_factor, self.config.adaptor_dropout)
        parameter = next(old.parameters())
        self.speech_audio_adapter = adaptor.to(device=parameter.device, dtype=parameter.dtype).train(old.training)

    def set_voice_rows(self, rows: int, seed: int = 0) -> bool:
        """Give the model `rows` freshly initialised voice rows per window (0: none); a model that already
        has that many keeps its own. The speech adaptor is untouched, so a trained model can learn them.
        Returns whether fresh (untrained) voice rows were made."""
        if rows == self.config.voice_rows:
            return False
        self.config = dataclasses.replace(self.config, voice_rows=rows)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            voice = self._voice_summary(self.config)
        if voice is not None:
            voice = voice.to(device=self.device, dtype=self.dtype).train(self.speech_audio_adapter.training)
        self.speech_voice_adapter = voice
        return voice is not None

    def set_gender_row(self, on: bool) -> bool:
        """Give the model an unfitted gender row (GenderRow.fit fits it), or take its row away; a model that
        already has one keeps it. Returns whether a fresh row was made."""
        if on == (self.speech_gender_row is not None):
            return False
        if on != self.config.gender_row:
            self.config = dataclasses.replace(self.config, gender_row=on)
        self.speech_gender_row = (GenderRow(self.config.encoder_width, self.config.decoder_width)
                                  .to(device=self.device, dtype=self.dtype) if on else None)
        return on

    # ---- persistence ----------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.ln_speech.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.ln_speech.weight.dtype

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """The state dict without the tied LM head copy (safetensors refuses shared tensors)."""
        state = self.state_dict()
        if getattr(self.text_decoder.config, "tie_word_embeddings", False):
            state.pop("text_decoder.lm_head.weight", None)
        return {key: value.contiguous() for key, value in state.items()}

    def save_pretrained(self, folder: str | os.PathLike, release_layout: bool = False) -> None:
        """Write config.json and model.safetensors atomically (a temp folder renamed into place).

        release_layout=True writes a MERaLiON-style config (model_type meralion/meralion2) for
        models whose flavour is one of those; weights keys are the same either way.
        """
        folder = Path(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".saving-", dir=folder.parent))
        staging.chmod(0o755)  # mkdtemp makes it private; a model folder is meant to be shared
        try:
            if folder.is_dir():  # keep tokenizer and other files already in the folder
                shutil.copytree(folder, staging, dirs_exist_ok=True)
            config = self.config.to_release_dict() if release_layout else self.config.to_dict()
            (staging / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False))
            (staging / INDEX_NAME).unlink(missing_ok=True)
            save_file(self.trainable_state_dict(), staging / WEIGHTS_NAME, metadata={"format": "pt"})
            (staging / WEIGHTS_NAME).chmod(0o644)
            _replace_folder(staging, folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    @classmethod
    def from_config(cls, config: AudioLLMConfig, dtype: torch.dtype = torch.float32) -> "AudioLLM":
        """A randomly initialised model (tests, training from scratch)."""
        return cls(config).to(dtype)

    @classmethod
    def from_pretrained(
        cls, folder: str | os.PathLike, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"
    ) -> "AudioLLM":
        """Load an audiollm, MERaLiON v1 or MERaLiON-2 folder (single or sharded safetensors)."""
        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise ModelNotFoundError(f"no model at {folder}: expected a folder with config.json and safetensors")
        config = AudioLLMConfig.from_folder(folder)
        with no_init_weights():  # weights come from the checkpoint; skip random initialisation
            model = cls(config)
        state = load_state_folder(folder)
        missing, unexpected = model.load_state_dict(state, strict=False)
        tied = getattr(model.text_decoder.config, "tie_word_embeddings", False)
        missing = [key for key in missing if not (tied and key == "text_decoder.lm_head.weight")]
        if missing or unexpected:
            raise ModelNotFoundError(
                f"{folder} does not match its config: missing {missing[:5]}, unexpected {unexpected[:5]}"
            )
        if tied:
            model.text_decoder.tie_weights()
        return model.to(device=device, dtype=dtype).eval()


def load_state_folder(folder: Path) -> dict[str, torch.Tensor]:
    """Read model.safetensors, or every shard named by model.safetensors.index.json."""
    if (folder / WEIGHTS_NAME).is_file():
        return load_file(folder / WEIGHTS_NAME)
    if (folder / INDEX_NAME).is_file():
        weight_map = json.loads((folder / INDEX_NAME).read_text())["weight_map"]
        state: dict[str, torch.Tensor] = {}
        for shard in sorted(set(weight_map.values())):
            state.update(load_file(folder / shard))
        return state
    raise ModelNotFoundError(f"no {WEIGHTS_NAME} or {INDEX_NAME} in {folder}")


def _replace_folder(new: Path, target: Path) -> None:
    """Swap `new` into `target`'s place so readers never see a half-written model."""
    if target.exists():
        old = target.with_name(target.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
        new.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        new.rename(target)

"""Exports of a run: ShareGPT (APIGen-MT-5k), OpenAI fine-tuning, Parquet / HF, DPO pairs."""

"""Model serving: KServe model servers, the local InferenceGraph router and their clients."""

"""Delivery of Vapi messages: HTTP webhooks (sockets or in-process apps), websockets, memory."""

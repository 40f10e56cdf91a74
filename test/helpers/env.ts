// Tests assert on behaviour, not logs: keep the output readable unless LOG_LEVEL asks for more.
process.env.LOG_LEVEL ??= 'error';

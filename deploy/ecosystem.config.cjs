// deepseek-free-api under PM2 (README, "Deploying it"):
//   pipx install .        (or: python3 -m venv .venv && .venv/bin/pip install .; then put .venv/bin on PATH)
//   export API_KEYS=sk-... DEEP_SEEK_CHAT_AUTHORIZATION=TOKEN1,TOKEN2   (or DEEPSEEK_FREE_API_CONFIG=/path/config.toml)
//   pm2 start deploy/ecosystem.config.cjs && pm2 save
//   pm2 logs deepseek-free-api; pm2 stop deepseek-free-api; pm2 delete deepseek-free-api
// PM2 hands the environment of `pm2 start` to the server; after changing it, `pm2 restart
// deepseek-free-api --update-env`.
const env = process.env;

module.exports = {
  apps: [
    {
      name: "deepseek-free-api",
      // The console script that `pipx install .` or `pip install .` puts on PATH; not a Node script.
      script: "deepseek-free-api",
      args: "serve",
      interpreter: "none",
      // One process: the account pool, its queue and the state live in it (a second process
      // needs a shared store, see the README).
      exec_mode: "fork",
      instances: 1,
      // The repository root, so that the default data directory is ./data there.
      cwd: require("path").resolve(__dirname, ".."),
      env: {
        DEEPSEEK_FREE_API_SERVER_HOST: env.DEEPSEEK_FREE_API_SERVER_HOST || "127.0.0.1",
        DEEPSEEK_FREE_API_SERVER_PORT: env.DEEPSEEK_FREE_API_SERVER_PORT || "8000",
      },
      autorestart: true,
      // A process that dies within 10 s of starting (a configuration error exits 2 at once) is
      // restarted at most 5 times, with a growing pause, instead of in a tight loop.
      min_uptime: "10s",
      max_restarts: 5,
      exp_backoff_restart_delay: 1000,
      // PM2 stops an app with SIGINT (PM2 7 has no per-app signal), which the server handles like
      // SIGTERM: it stops DeepSeek's generations and ends open streams, in a few seconds. PM2's
      // default would SIGKILL it after 1.6 s.
      kill_timeout: 30000,
      time: true,
    },
  ],
};

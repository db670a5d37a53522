# One image for the hub and the edge agent (the command differs). Node 20; better-sqlite3 builds here.
FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY protocols/package.json protocols/
COPY hub/package.json hub/
COPY edge-agent/package.json edge-agent/
COPY dashboard/package.json dashboard/
RUN npm ci
COPY . .
RUN npm run build
ENV DATA_DIR=/data
VOLUME /data
EXPOSE 8080 1883
CMD ["node", "--import", "tsx", "hub/src/server.ts"]

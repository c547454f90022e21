import { defineConfig } from 'vite';

// The gateway serves dist/index.html for every console path and dist/assets/* as they are.
export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 600,
  },
  server: {
    // `npx vite` against a running gateway: CLOUDOPS_URL=http://127.0.0.1:7480 npx vite
    proxy: process.env.CLOUDOPS_URL ? { '/v1': process.env.CLOUDOPS_URL } : undefined,
  },
});

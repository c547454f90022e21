// The signed-in app's context: {session, org, env, orgs, envs, connections, access, setOrg,
// setEnv, signOut}. Provided by the shell (app.js), read by every screen.

import { createContext } from 'preact';
import { useContext } from 'preact/hooks';

export const AppContext = createContext(null);

export const useApp = () => useContext(AppContext);

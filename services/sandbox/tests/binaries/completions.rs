//! `cloudops completion SHELL` and `planton-runner completion SHELL`: the scripts load in a real
//! bash and name the subcommands.

use super::Env;

#[tokio::test]
async fn completions_load_in_bash_and_name_the_subcommands() {
    let env = Env::new();
    for (binary, subcommands) in
        [("cloudops", &["serve", "hub", "health"][..]), ("planton-runner", &["start", "deploy"])]
    {
        let out = env.cmd(binary).args(["completion", "bash"]).output().await.unwrap();
        assert!(out.status.success(), "{binary} completion bash: {}", String::from_utf8_lossy(&out.stderr));
        let script = String::from_utf8(out.stdout).unwrap();
        for s in subcommands {
            assert!(script.contains(s), "{binary}'s completion lacks {s}");
        }
        let file = env.home.parent().unwrap().join(format!("{binary}.bash"));
        std::fs::write(&file, &script).unwrap();
        // Loaded by bash, it registers a completion for the binary.
        let loaded = tokio::process::Command::new("bash")
            .arg("-c")
            .arg(format!("source {} && complete -p {binary}", file.display()))
            .output()
            .await
            .unwrap();
        assert!(loaded.status.success(), "{binary}: {}", String::from_utf8_lossy(&loaded.stderr));
        assert!(String::from_utf8_lossy(&loaded.stdout).contains(binary));
        let zsh = env.cmd(binary).args(["completion", "zsh"]).output().await.unwrap();
        assert!(zsh.status.success() && String::from_utf8_lossy(&zsh.stdout).starts_with("#compdef"));
    }
}

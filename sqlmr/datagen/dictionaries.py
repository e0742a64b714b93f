"""Value dictionaries of the Amplab uservisits table.

Derived once, at development time, from the 10,000 rows of the published "tiny" uservisits files;
weights are occurrence counts in those rows, so drawing with them reproduces the published mix.
"""

# (weight, agent) for the real browser strings; ';' stands in for ',' as in the published data.
NAMED_USER_AGENTS: tuple[tuple[int, str], ...] = (
    (1315, "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)"),
    (850, "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 5.2)"),
    (811, "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1; .NET CLR 1.1.4322)"),
    (742, "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 5.1)"),
    (707, "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.0)"),
    (
        563,
        "Mozilla/5.0 (Windows; U; Windows NT 5.2) AppleWebKit/525.13 (KHTML like Gecko) Chrome/xxx",
    ),
    (
        405,
        "Mozilla/5.0 (iPhone; U; CPU like Mac OS X)AppleWebKit/420.1 (KHTML like Gecko) "
        "Version/3.0 Mobile/4A93Safari/419.3",
    ),
    (375, "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1)"),
    (
        333,
        "Mozilla/5.0 (Windows; U; Windows NT 5.2)AppleWebKit/525.13 (KHTML like Gecko) "
        "Version/3.1Safari/525.13",
    ),
    (283, "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.0)"),
    (166, "Mozilla/4.0 (compatible; MSIE 5.5; Windows NT 5.0)"),
    (
        127,
        "Mozilla/5.0 (Windows; U; Windows NT 5.2) AppleWebKit/525.13 (KHTML like Gecko) "
        "Chrome/0.2.149.27 Safari/525.13",
    ),
    (91, "Navigator/9.0.0.6"),
    (84, "Netscape 4.8 (Windows Vista): Mozilla/4.8 (Windows NT 6.0; U)"),
    (77, "Mozilla/5.0 (Windows; U; Windows NT 5.2)Gecko/2008070208 Firefox/3.0.1"),
    (76, "Mozilla/5.0 (Windows; U; Windows NT 5.1)Gecko/20070309 Firefox/2.0.0.3"),
    (62, "Mozilla/4.0 (compatible; MSIE 5.5; Windows 98; Win 9x 4.90)"),
    (56, "Opera/8.0 (Macintosh; PPC Mac OS X; U; en)"),
    (
        51,
        "Mozilla/5.0 (Macintosh; U; PPC Mac OS X; en) AppleWebKit/125.2 (KHTML like "
        "Gecko) Safari/125.8",
    ),
    (
        51,
        "iPhone 3.0: Mozilla/5.0 (iPhone; U; CPU iPhone OS 3_0 like Mac OS X; en-us) "
        "AppleWebKit/528.18 (KHTML like Gecko) Version/4.0 Mobile/7A341 Safari/528.16",
    ),
    (48, "Mozilla/5.0 (Windows; U; Windows NT 5.1)Gecko/20070803 Firefox/1.5.0.12"),
    (41, "Opera 7.51 (Win XP): Opera/7.51 (Windows NT 5.1; U)"),
    (39, "Opera 8.0 (Win 2000): Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.0; en) Opera 8.0"),
    (38, "Netscape 4.8 ( Win XP): Mozilla/4.8 (Windows NT 5.1; U)"),
    (
        32,
        "Netscape 7.1 (Win 98): Mozilla/5.0 (Windows; U; Win98; en-US; rv:1.4) Gecko "
        "Netscape/7.1 (ax)",
    ),
    (30, "Opera 7.5 (Win XP): Opera/7.50 (Windows XP; U)"),
    (30, "Opera 9.2 (Windows Vista): Opera/9.20 (Windows NT 6.0; U; en)"),
    (
        25,
        "Mozilla/5.0 (Macintosh; U; PPC Mac OS X; en) AppleWebKit/125.2 (KHTML like "
        "Gecko) Safari/85.8",
    ),
    (22, "Opera 7.5 (Win ME): Opera/7.50 (Windows ME; U)"),
    (19, "Mozilla/5.0 (Macintosh; PPC Mac OS X; U; en)Opera 8.0"),
    (17, "Netscape 2.02 (Win 95): Mozilla/2.02E (Win95; U)"),
    (10, "Opera/9.27 (Windows NT 5.2; U; zh-cn)"),
    (9, "Netscape 3.01 gold (Win 95): Mozilla/3.01Gold (Win95; I)"),
)

# The published data also has ~490 random-looking agents ('Xxxxx/d.d'), each about equally
# likely; together they take this weight (on the scale of the weights above).
RANDOM_USER_AGENTS_WEIGHT = 2415
RANDOM_USER_AGENTS: tuple[str, ...] = tuple(
    """
Acgtibwkqfxxtkygdmn/4.3 Acpwwku/0.2 Addzxnb/2.4 Adqfvysdgvyrohdncvaggwx/6.4
Aftiarbryilegmyeut/1.6 Ajwrnnpslwxnn/6.0 Aldzbowdiyyefribznzichui/2.0 Alfhvpeulbq/5.3
Antdklymmren/5.7 Aotmytinroyigz/3.7 Atdcznou/2.0 Atrxbnhrxhgve/7.4 Atxtlrzeabzjcayswmk/4.8
Auhalms/4.1 Awncylajmayt/3.8 Axshgcdpcooyabpxnvh/5.6 Ayhnghcpabqdxfeigtplyqp/5.3 Bbugkkxn/4.8
Bfjrjnxkgjmmrtkqkresut/0.7 Bhrcwvvaqzzfqelqrueyyaen/3.1 Bittasamshkthy/5.0
Bktryxffevustxukqhmn/4.5 Bmqogzwwkq/4.4 Bqpsfubmzperr/0.6 Btooxiveee/4.8 Buklieqonhjiwzqif/0.8
Bwsdu/4.7 Bxnrpojcmqnidida/4.5 Bydsjpip/4.2 Cbjeefyugxjvi/0.6 Cbuxjqpqqtpvmuelwuwyvf/4.3
Ccegtgsh/8.1 Cgtzocljrkcscaykzufpf/4.8 Chotbienldh/4.3 Cjgmzptkleniutmxziekqi/6.7
Cjurzohzgnpmaaljqvthqp/3.6 Ckiack/7.8 Cmgedkknshemyikfj/3.2 Coacubjdtwczyklb/0.5 Cpdcmm/0.4
Csbxfhht/7.1 Ctlsnuyn/6.3 Cuygtoczk/0.7 Cvngxgnt/2.8 Dbauxdwokkb/4.6 Dbbregqwoyqpgjhzh/1.0
Dbprffhfgfcnosaixzocp/0.1 Dduhgtsmnkylwj/2.8 Devvhkzyizcfrdolwh/3.6 Dfzauhjdnbrbdishnmktipg/2.2
Dgmnsdcbegcfsyfrr/0.5 Dgtflyhlogcgb/0.2 Djjtkfjakd/3.1 Dkvzwajrtpl/7.2 Dkzbv/6.0
Dliyrwyuqqdszcihiqmgx/0.5 Dlwyzvvstaafvuy/0.8 Dnsvim/5.3 Dpuiwstomhsvflwpiymqv/7.6 Dqwio/1.8
Dsikuosulpz/2.1 Dtmzssrunnmreqx/4.2 Dttutpsakj/7.6 Dudxvbjgnkcejsmgs/6.2 Dvmwmhzkemtdpk/4.3
Dxfkhzeqrlatzqka/4.3 Ebmcszqreywe/0.6 Ebqomdpzuvlinsg/4.0 Edpgm/4.6 Edvfleqmufykwkgzhj/6.8
Efoztoedkzgyh/5.8 Efvnymfvxchqyij/6.7 Efxqra/4.1 Ehdbimkowmpzorlos/4.4
Ekjzxmfjynzcnpmmiznkzoo/3.5 Elqjbstore/2.6 Ephaog/0.7 Etefzbnasjxbntgffoidk/4.3
Ewxtouxejuvgmgg/1.1 Eyqlpvhhowtqwmedh/7.8 Ezkwqxlexdmxizpa/0.7 Faqglafdznm/3.0
Fathopylnndzaugvcrrpqmja/4.8 Ffpbapskorabqqonexizveq/4.2 Ffslsfyebtijsdby/7.1 Fglxbbtqn/7.8
Fkjptayibnywlek/1.7 Flegdo/3.1 Fmcmvap/3.0 Fmknbdscspuwpjzghftltks/1.3 Fmqvj/6.8
Fnnkcnfcwjknlcirnn/5.0 Foggxqdmvyhwipsl/5.2 Fpuccgkxoyc/1.4 Fsbqhn/4.1 Fsusisueydoyyafck/6.3
Fthitzcddvndvtvwxom/6.1 Ftsiipmjuay/6.4 Ftsrxu/4.1 Fudybefib/5.7 Fwiufestlbsxibycpkcm/0.7
Fxnbhbn/1.2 Fymmecwqd/8.1 Gaesiympjrisjkrwttdpl/1.3 Gbfsywybq/0.0 Gblukxvtjaq/2.5
Gbwjkvtmiobjn/6.4 Gcpwpqrrgdfowsgauk/8.5 Gdifqnhbqotdpqed/1.6 Gdigneflafkxmvwz/2.3
Gdjrkjazujbimewrycpsz/3.7 Gedjdirrje/3.8 Gigtalecfrcgjnbjupv/0.8 Girack/0.1 Giurcliaoten/0.3
Glgoweibtpjbf/8.7 Glpfyhlvxmknvhjvwjnsakh/0.5 Goaevgczarcizrna/4.4 Govkyqz/0.5 Gpsiwie/3.1
Gqfqchikp/1.0 Gqhutaegcupaqodaxw/7.7 Gqxtudajtjsa/3.0 Grsgxmnvon/6.2
Grvdzrsflfnbimumssdrnyrl/4.4 Gsgeyrwubkhzhfcaq/0.3 Gudvmfxfrrlxnusibl/4.8 Hgnqancnemzlheji/6.0
Hiapa/7.5 Hibbfndwjaxmfxlgtxgdpgny/7.5 Hidrwfyyvjivlennybegqk/0.3 Hifviuaqsoagsooubusvrhzi/5.0
Hlyyhjkkyylze/0.6 Hmgalrafdyycpxyctnpkdza/4.8 Hmictbobwszbwmsnndfjyv/8.2 Hrwzhbvz/1.5
Hsarmlrwqukdgsmxr/8.8 Hsmiabyqiwfidd/6.8 Htcffqfbf/5.5 Htdjsafm/4.3 Huptjozxrdpmh/3.8
Hvlvjbb/8.4 Hvxrvjfartdtritfvpoemsn/3.4 Hxjibzsxfqedwqukvgb/2.1 Hxohwbvchgssxuwf/5.8
Hymqarozcby/3.7 Hzgpkpncyck/5.0 Iadekcpybfrntkomh/8.7 Iauummgqwaplujgfszghxzf/3.0
Iazcleskndewuairiipijurt/6.1 Iijoxrgjwrkj/2.7 Iiqgexjrfeweyjabsdctpvd/2.3 Ilwcabzs/8.4
Impbwk/7.6 Impzgrbkpigxd/4.0 Iopelfunp/5.5 Iueyngxmfkssblj/6.3 Jbmwswfgnwkzsbrsvg/4.2
Jbwbrzegoivihkdjlsc/6.4 Jcmqocabdzfsyrfds/8.8 Jdpcyrymygvhrzq/6.8 Jefcnrnasanju/8.7
Jgbdsngsnahgcfgksq/7.1 Jgeuzgazpgkhkiwaab/1.2 Jhdcgnhpqgoartzspywqg/8.1 Jhdoreuegcowqbm/3.7
Jhebcwdxc/2.7 Jjiyio/6.0 Jjtdtfrrdxbdqeppzvny/3.1 Jkhualpbdshnjgggkk/3.8 Jmqlzfre/2.6
Jnwbdjjmnnmng/7.3 Joqqdyfvrlrbj/1.2 Jpammmcvjjvfldovememxqej/6.6 Jqjrnsajthjydgdkgdrbclv/7.2
Jsmbzujqmfxnfgzaet/5.7 Juaobqlnxahgfbtzylpug/2.7 Jvfeoledjkoufkrxx/0.7 Jvhfibmswjjdgnhx/8.0
Jvzafpe/0.4 Jwddgnrp/8.4 Jxivsvxawzvaakienb/4.4 Jxqjrolit/7.5 Jxrjardjdzuuxikgxssuqe/0.0
Jyxshbvqiqhjndb/0.8 Kabsilqpmia/4.8 Kbfufmeszqqxymgwt/6.1 Kdkic/7.2 Keourwmos/2.7 Kgkkzv/2.8
Kgydtma/5.0 Khbxotkaewbjdrzorbt/5.6 Khidxympqftanufgisvj/5.7 Kkfhc/6.3 Kmsmtdfnctmwchbtm/6.6
Kmwikbkqwapksvo/7.6 Kmzmihykegpmn/3.5 Kpuwizasymdxhdwhujya/2.7 Krjxhzmhpzwlaau/2.6
Krnvbbcpmeuhaeklnw/1.8 Ksjkcgtjrfunmcika/7.5 Kvicsaitlcqefxsvxshyu/5.3 Kvszhcllahyasmfuv/5.7
Kwrzhaof/3.0 Kwvuygem/6.0 Kyaaxxwnorzzyyfaglnhkel/8.8 Kyakcbdyqhbxlzuitdwvviv/4.0
Kyawkqskztedbawdeqtuwe/3.4 Kypcvvyra/5.2 Lazcsnqijxorhqzukjjmcbq/5.5 Lewdexkwmtsxwlqfab/4.3
Ljojzm/3.2 Lkadkminzksh/2.0 Lkify/0.6 Lkwypuyf/0.5 Llkaridopdu/7.2 Lllplcszpredv/1.1
Lnqoqdpdjl/2.8 Lqbvpoizwsbmldkukyxios/1.2 Lqfrugcypxpsscemahayz/8.2 Lrmbppdzibrxztqmgywjv/5.5
Ltiwkzftsfoezjauzqxrkgjt/7.3 Lumhetkd/7.3 Lvrmydokdhtliuauxmltbe/7.3 Lxskmlltv/3.6
Lzupdemahubiquzi/2.1 Mbwpcge/7.2 Mdtlqczsaaqhytebs/2.6 Mewdhpeahbvxypuj/2.1 Mifrdv/3.7
Mjiiwafe/7.5 Mkdukxeygarnxuxffom/0.6 Mknfunrnkcjfv/0.6 Mkpsrchfljsjenbemfalojci/5.7
Mmrwwdtojvhtyjoommxzynv/2.0 Mnepkaozzejr/6.6 Mqficffodvfmbqcyscwo/8.8 Mqghu/6.7 Mrzif/6.5
Naggielwlujs/8.5 Nblfqzzgu/2.6 Ncqdreknjeulcwrfecrvhir/6.8 Nctccmnd/4.5
Nfniggatkycidoobdfhzsta/1.8 Nheazviysr/4.8 Niolfpfjd/8.8 Njbvbiidgrdhplqtbxaiehfz/0.6
Nkrlvfrwvysnjyjtjv/6.1 Nlbncjvdslqkikqoiidavp/4.2 Nlskmfxrllexv/3.8 Npgyzssejrwsvmdfqm/3.1
Npzbk/2.4 Nqfgehkrmyao/4.4 Nqthrnea/7.5 Nriogocisziw/8.0 Nrkdibactmkmn/2.8 Nuctmzxc/8.1
Nujgtbxjlphrpiprlrwzxze/7.0 Nxnarrkgrlnfbmjt/2.3 Oacrh/1.5 Obmlwsvthxx/0.4
Ocftbqelkvywccfpasmksl/0.7 Ocvoysv/4.2 Ofisjppe/0.4 Ohqjtlcpsjisrrvwx/5.5 Oihzrnzgz/1.4
Oolujea/0.3 Oooyk/0.3 Ophviybcuyit/4.7 Oqmmesf/5.2 Ossvyyuze/4.6 Ostpgbyurvyqsgkax/2.5
Ouznvpmrsqkdu/8.0 Ovkbyrzukwvxzlqdxmlwrt/6.7 Ovsqbqdyxdqv/5.3 Ovzbtoln/4.3 Oxqokdwsunwnakhou/5.7
Ozinbhiryxfqfaecufmisdml/6.3 Pamwkobxxdcqcvhnre/5.2 Pgncgbhtwf/5.1 Phbwmfnjiuaxo/0.0
Pjiqwuonvcccmrlwrfyknjd/8.0 Pmddvcxfkmtuggtlroofjsh/2.7 Pmeltzpe/8.3 Pohdpupswihkerpv/4.4
Ppjawrahchdynhkmzb/3.5 Pplxquozcdxbg/6.8 Pqoqpfoirezox/5.5 Pubowowm/7.2 Puznxgvhrueimjhjiw/6.7
Pzheuxmiqiggwls/3.3 Qanmqkbo/8.0 Qapiybimpkvofgzclcrmie/2.6 Qbutxaarkgku/5.7
Qibqzprywxnvwfhfwvze/5.4 Qijge/0.1 Qjhzkgvqosb/8.1 Qjkmycz/0.0 Qjpgfszrpkxhuavztimy/6.5
Qlogryxxuhitxsfsmdmioub/8.5 Qluqqtxcgwybgdvf/7.3 Qntmqbexllpwgr/1.0 Qomdvssyehanvaunpkklfjbx/2.2
Qqrfanwchmcwmixrk/1.8 Qrbcayymnozhca/6.1 Qrltjuvy/5.4 Quire/1.4 Qulnpqgco/4.4
Qulxcfylcxpwtjjkvcog/4.4 Qwgkkpntgn/3.2 Qwkibjmduscjqk/6.1 Qzgllwdrobkwtxcjwv/5.3
Qzniqghzirxgoep/4.7 Rbervnqpe/3.7 Rdiowzislyaxwaa/7.4 Rdndbbyvpbkabmkq/2.0 Rfdiituoyzkud/4.6
Rfhzvetyppcbqraapckqbqsj/1.8 Rfiuwkcvekhzvrcpqmvdmigv/3.0 Rgjyssrzbmj/1.3 Rhdrpkntfptjomnj/4.0
Rhlhjxfe/2.3 Rltmvwenrhsxpeccbmga/1.7 Rorabahoixu/3.7 Rpodex/4.3 Rpschleahamp/3.1 Rpvawlbyn/7.3
Rpwuh/1.2 Rrnsrdzas/0.8 Rtzpii/0.3 Rufgoppszpbdnmcbnroay/6.4 Rulpkglvzdzoollwltxlzlt/0.6
Ruuczxddowttvhoblhaagu/3.7 Rwfbnrtlfkkqsx/4.3 Rwowmkbrwngtvh/4.1 Rwqtamlgdpvbzjqtxyctn/0.0
Rwqxojrux/6.6 Rxtfyneklcdcfm/5.3 Ryfid/5.6 Sbrovxgawmvbem/7.6 Sdepkilejlqyqpycvkky/3.6
Sgceddbrqpuqp/2.3 Sggbesl/6.2 Sgllxpb/5.5 Shhfdtecjpk/0.1 Silrzrdqiev/5.5
Sjocgwajqoehbxcfvejc/5.4 Sjszbqbrwanodnyodv/1.7 Sjymjdryda/7.7 Skdqgzmxjalnlsxzxgvmziro/1.8
Skgnnilhhbqyuzescvnub/5.1 Slczhejngckhkmbhrnejee/7.1 Sotvdlxeu/7.4 Sphommlruzxre/2.8
Sqsoqpcxjucnrnkdbiffq/1.0 Sscbjejmmcwnunjila/3.3 Swgsqhtdp/1.4 Swvwnktkpzmltyibi/6.6
Szmdelzokwavylrtm/2.5 Tcitwpcpkialomn/6.0 Tdnuncetfhdbe/1.2 Tdvbhztvmplkoztx/2.1 Tfnerup/3.2
Tmopec/4.8 Tmzisupumx/8.0 Tndlhtmosw/8.8 Tqsyjozwsdtzdlitxtl/3.8 Trjppvbzvtzoy/4.1
Tsjhprlronfdvis/2.7 Ttlglmshvhffxt/5.6 Ttojuduz/1.8 Twfoz/5.2 Txpmodsnv/1.5 Txybbzri/8.2
Tyzbf/6.8 Tzqutbhbmwuuatueh/4.2 Uaeejhndlyictitrevlr/5.3 Ubjrbwaajtlpikmrox/5.4 Uggxyezvh/2.0
Uhqxvfmwgdrm/7.3 Uhvlvcnwxsblkhgzcidsgg/8.5 Uiheloxspoqexux/7.6 Ujdzclasvmblqfhyhpfelss/1.8
Umtvlyqouvzblbsfkbzxxy/2.6 Unrekkijccuskxvbvtajraf/6.1 Uocmqdoau/5.7 Uokegsddrw/2.3
Upmrvuflykfzt/3.7 Uslvig/4.2 Uufactfvjfixgcb/7.6 Uulza/6.0 Uusuiiqgmczixszdnmkery/2.3
Uwpwfkqechq/4.0 Uxgmbocg/6.8 Vampzibtj/6.5 Vazyybgptemxjajhjyoi/2.0 Vbkhxefsxlebumzlm/3.0
Verpspgofn/3.7 Vfbuhnmdtjnx/6.0 Vfiwqheevcxlrluz/0.4 Vfscaqgidkwxkpstqag/3.2
Victlemqwoivxhnnkmjqaze/1.7 Vkrzk/1.5 Vnnmythwrywm/6.5 Vqlwwocgnvgyucsqakghjl/3.7
Vqnwiduajagrecj/1.3 Vsdxyqpubghvum/1.1 Vwkzzcqoldprwsls/2.4 Vywkk/6.7 Vyxwoqjdbgjjptvewthyub/2.0
Wasnyv/0.3 Wcdwkyeuaazghl/6.5 Wchmmjijrrn/2.7 Wdhefevfgfjcfcfzudl/7.4 Wdoav/3.6 Wdpxvrxvzo/8.8
Wflampgmggbzb/0.4 Wflfoeweosapf/7.3 Whyoiuczobbcpvxmhbmfdfa/5.3 Whzfgdamnqmyihypblx/0.6
Wjaumtfnzs/3.0 Wlhrpn/1.4 Wncdnuaaaqrlouomvh/2.0 Wplrjheoynnqzngunqqpx/5.6 Wqzfuwmaqsleg/5.1
Wrkrq/4.5 Wrrenofnmhkyiyec/4.4 Wsqkfgvdxxjmjoskgkug/5.2 Wywqxzlwynvjnyonlmus/8.1
Xbswjecsapdlktv/8.1 Xegqzir/8.7 Xexromqirph/8.0 Xeyzuwabpz/7.2 Xgxdvucqodbpdnlnnomhwrp/5.0
Xixupkjhug/7.2 Xllfhbaoamffnzbjophlawa/7.2 Xnbhwtpkxvyacknpxhtwyss/8.1 Xouhbjat/1.1
Xpzeudvvgzgdclcmdpmod/3.6 Xqagniace/7.3 Xtpzrzlhbbpmray/3.6 Xufyqhwofz/5.8 Xwdtwh/1.2
Xxjivuehalyjus/8.7 Xxmudf/6.5 Xyppnmtbmuazspizjt/7.4 Xzuqzqvjopr/7.2 Yajjd/5.4
Ycotbvnkupzyhbuhc/8.0 Ygjosbyucefne/0.8 Yhctezay/2.6 Ykdgruptgfajnb/8.7 Ykfakyr/1.3
Ykqjodbwcs/1.8 Ylkhrzjvusnddnbfxwuaj/7.5 Yptemuenapau/6.4 Ypzfmzacxurzoa/2.5
Yquygzekipdamlkiykd/8.1 Yscqcbbjzes/6.0 Ystrqccjpjvvlvty/5.5 Ytbhajyojlkgoypapiqfivtx/8.3
Ytobhvlhsd/4.8 Yxhttitmjsgczjuec/6.2 Yxisvm/3.3 Yzjllyuwzuxvaf/4.3 Yzuscxsxfxyujolvjxr/8.8
Zawoeuyqocclrgwnxoee/0.3 Zcbhnidwimxcwccfj/1.4 Zcmqumrwpmhcqhluefzvkfi/0.3 Zdqmmsvhkyadydsc/8.0
Zechbublpj/7.1 Zipfnznjynjkoogvjz/2.3 Zjaztsdbfjzf/3.2 Zjskgavbp/6.3 Zkfkgviuuibnsmqqulx/2.8
Zkvxxryvlclyqisflj/1.2 Zlciifx/4.7 Zljexys/4.6 Znbuvtxaedziknhrawob/2.3 Zndxo/7.4
Zrizyaxztehtowlckajvka/2.1 Ztggfijxhb/6.1 Ztnczuqyxiyjwgslhppusqhk/8.7
Zttnxpjwyceoosquujornnc/0.4 Zwwtwpvlztanautbus/5.6 Zxvrstcljmoifgalavnzvw/6.8
""".split()
)

# 'LANGUAGE:weight' tokens; the country code is the language code's prefix (BGR-BG -> BGR).
_COUNTRY_LANGUAGES = """
THA-TH:208 NOR-NO:196 JPN-JA:174 EGY-AR:124 LTU-LT:111 HND-ES:108 USA-ES:106 NLD-NL:104
SDN-AR:104 CYP-EL:103 SVN-SL:103 JOR-AR:102 MLT-MT:102 SGP-ZH:102 KOR-KO:101 CHE-DE:100
ROU-RO:99 USA-EN:99 AUT-DE:98 FIN-FI:98 ALB-SQ:97 AUS-EN:97 CAN-EN:97 CRI-ES:97 FRA-FR:97
LUX-DE:97 MNE-SR:97 NZL-EN:97 SCG-SR:97 TUR-TR:97 ZAF-EN:97 DZA-AR:96 ESP-ES:96 OMN-AR:96
PAN-ES:96 ARG-ES:95 CHE-FR:95 CHE-IT:95 CHN-ZH:95 CZE-CS:95 DOM-ES:95 HRV-HR:95 NIC-ES:95
SAU-AR:95 PRI-ES:94 PRY-ES:94 IRL-GA:93 LUX-FR:93 PER-ES:93 PRT-PT:93 DNK-DA:92 GRC-EL:92
SRB-SR:92 SWE-SV:92 TWN-ZH:92 IRL-EN:91 MLT-EN:91 RUS-RU:91 HUN-HU:90 COL-ES:89 LBY-AR:89
MKD-MK:89 BRA-PT:88 ECU-ES:88 EST-ET:88 GBR-EN:88 IND-EN:88 TUN-AR:88 CHL-ES:87 DEU-DE:87
ISL-IS:87 ITA-IT:87 KWT-AR:87 LVA-LV:87 MAR-AR:87 MYS-MS:87 SLV-ES:87 SYR-AR:87 VEN-ES:87
BGR-BG:86 BOL-ES:86 ESP-CA:86 SVK-SK:86 HKG-ZH:85 IRQ-AR:85 BLR-BE:84 GTM-ES:84 IDN-IN:84
YEM-AR:84 BEL-FR:83 BHR-AR:83 BIH-SR:83 MEX-ES:82 PHL-EN:82 POL-PL:82 QAT-AR:82 UKR-UK:82
LBN-AR:81 BEL-NL:80 CAN-FR:80 IND-HI:80 URY-ES:79 ARE-AR:78 ISR-IW:77 VNM-VI:77 SGP-EN:76
"""
COUNTRY_LANGUAGES: tuple[tuple[str, str, int], ...] = tuple(
    (tok.split("-")[0], tok.split(":")[0], int(tok.split(":")[1]))
    for tok in _COUNTRY_LANGUAGES.split()
)

# The published data draws search words uniformly from exactly these 1,000 words.
SEARCH_WORDS: tuple[str, ...] = tuple(
    """
-el A-one AAAA AGR ARU Aalto Acroceraunian Adalard Adlar Agenor Alfy Allys Almada Aluco
Angrbodha Anti-aristotelian Aphelandra Aram Aruru Assidaean Atsugi Babesia Baha'ullah Bannasch
Bardeen Behistun Biamonte Bihai Blindheim Bolshevized Bowdichia Brachyoura Buckleya CIO CNO CTTN
Campbellton Carnarvonshire Cephalopoda Chandra Chimonanthus Cinebar Clementon Coccaceae Court
Crossroads Culpeper Daltonic Desi Deutschmark Dicynodontia Dorcus Dougherty Dowell Downe EPUB
Elnore Erkan Euglenida FCIC Fabrianne Farrington Farris Fasciolaria Fuls GI'd Germaun Gienah Gij
Gloriane Gouldsboro Guin. HEHO Haemulidae Hanafi Hindu Hoban Idalina Japonize Krall L'vov LBJ
Langford Larned Leroy Lidie Liederkranz Limosi Lobito Lophiodontidae Lutetian Luxembourg
Lysistrata Madhva Mamurius Manouch Mantua Marcionism Maritime Massapequa Mathiston Meadville
Megarhyssa Mentes Meriden Michaella Mimosaceae Mineola Murjite Mycetozoa Myliobatidae
Nacionalista Natchez Neper Normannic OLTM PPE Padus Pergamos Phyllosomata Pimpla Portugalism
Praha Priscianist Pro-argentinian Pro-presbyterian Pseudo-swedish Quakerization Ramaism Rawden
Raybourne Redstone Ressler Rokadur Romanisation Rubin SNOBOL SQA SWAS Sabsay Salicaceae Sardoin
Savery Semeru Shirleen Shoals Shortsville Siberian Snowdonia Sparhawk Strandburg Swart
Talegallinae Tarry-john Teryn Teutolatry Teutonising Tohatchi Tolkan Tortulaceae Tougaloo
Treharne Trional Trish UNMA Ulidian Umbro-oscan Umbro-roman VAP Varangian Verden Vicco Virgie
Weatherford Winburne Zoochlorella abhor acanthous acceptably accorded acinar acuclosure adipose
aga agnominal aircrewman aisle alethopteis all-soothing all-substantial all-triumphing alowe
aluminyl ammoniojarosite amoebiform anabaptism anaglyptograph and angiosymphysis antasthmatic
antheriform anthropocentric anti-English antiexporting antipart antiphoner antiscientifically
antisociality apologia apprehensions archaicness arete ascertainableness attics attributive
auriculariae aviararies avowal baby-doll backarrows bakli banig banjuke barehead bargh barracuda
beckoning beetfly bekissed belord betattered biauricular biodegrading bitterbrush biune bkbndr
blackband blacktongue blithemeat blockmaker blunthead boasts boatie bonum borders bothros
bovinity bradytely braising brawl breastpin bristlelike britzska bull-roaring bullrings burlap
cabstand cack-handed cadua calanid calliperer can-wrapping capris carabaos carburised cartiest
cartonnage cartonniers cassaba cataphora cathodes catspaw catsups ceil censured chalazoin
champagne chancito chavicine chilblained choke cholecystalgia chronogrammatical church-garth cid
cingulectomies circumradiuses clangouring climatically clitellum cloddishly clonked clop-clop
cohosting colonizable colostric communitywide comptrollership conciliable conjunctiva
consolatory constrainable contendere contessa converters corresp cosignitary costliness
countermands countermotion cremor criosphinx crocko cross-ventilation crosshatching cryptodire
cundums cussing-out dactylitic dad daddy-longlegs daff dalapon dandle darkens darners debus
decalage decalcomaniac decarboxylate decision-making defi defusing demographist depurating
dereistic derided desiccator desipient desm- devastating devests diamb dictions didn diffusional
dimensionally dinted dioptral diordinal diplospondylic dipththeria discommoned disenfranchising
disgarland disintegrators disjunctions disorientates dispending disseats distending distends
distinctor dithymol diversifies diverticulate doggerels doiled dorter doucin doweled dragading
dramatizes draughtsboard dressmakers drinking drippiest druidry duckier duringly dyarchies
eagled eardrums ectomorphy eddo effusions efl embrocates embryulcuses enamelers encanker
encephalology encephalophyma enclaret ensigning enthrone episcia epizoites equivale erasability
ergotisms erythroblastosis estrangedness estuary etagere ethnoflora euosmite evilspeaker
examinative excambion excreta excretive exosmotic exploitative exposers eyednesses
faint-glimmering fair-haired fair-trading fastingly fchar fellies feracity ferroelectrically
festooneries fidded fieldstrip fillagree fishgig fitnesses flat-nosed fleshen flightful flooring
flowing-robed flypaper foalhood forbiddenly forcipial forefronts forhoo formals fowage
fractioning freemartin friandise fruitwoman gastroesophagostomy gehlenite geographized
geometrising german germiest gidgee gigantoblast gilravager gleeman glood gloriam gloving
gluteal godfathers godless goiter goldenrods goody-goodyism gossoon goutiness graphalloy
gravamem grece greyest grumpishness gunl gynecomania gypsylike hackneying hagiologically hairpin
hallmarks hardnose harmonicas hartebeests hcb heathendom hebamic heptarchic heredosyphilis
histochemistry holohedral homy hospita hospodariat huffing huscarl hyaline hydrosalpinx
hypacusis hyperacousia hyperbarbarously hyperlithuria hypostrophe ice-foot ichthyophagian
idolify ikon immanentistic immunogenetically impeller imperialised impinging imposterous
impriment inartistic inducive inebriative inenucleable inflationists inhospitableness
inirritably injustices innholder inoculant inselberge inswarming interestless interphase
interpole interreflect intervenant invariant invigilator iridescent jestproof judiciality juliet
juries kegler kindergartening kinoplasm koltunna lacewoman lackadaisicalness laeotropic lampful
languaged leefange lengthening licham likings linecaster lingism lining-out localising long-line
long-resounding lour lugs luxuria lymphomatous mF macrolecithal magmas magnetizations maiolicas
majordomo maltworm mancando manicurist many-sided many-wintered maravedi margarodite matters
meagernesses megilphs memoranda menacement meriquinone mermaid mescaline mesostyle metageometry
metathesize methylated methyldopa meticulously metoxazine mezo micropyrometer micturate mid-on
middleweights milliamperes miraculous mis-see misopaedist mispage mixologist moleproof monaulos
monkflower monosomy monospermic monosyllabism monsignori moor-hen mormaor motacilline
mother-of-thousands mottlers mucoserous mullocky multigraph multivalve mycterism myopia
myriotrichiaceous nF napiform narrators negrophil neofetus neology nephradenoma nephropyosis
nervelessness niftily nonbodily nonbromidic nonconcurred nondoctrinal nonfimbriate nonic
nonjurancy nonoccult nonpersecutory nonperversely nonplusation nonremissible nonvulcanized norms
north-easter nuchae nunnify oar-footed octastyle odeum oligotrophic omentitis one-eyedness
orthognathy osteotomy otorhinolaryngology outdoor outlaughed ovaritides overcoming overhold
overprominently oxalo- oxidizes palaeogene panelled paranotions parascenium parathymic parenchym
parled pasch-egg pathomorphologic peace-restoring perfusion perihepatic pertains petty-bag
phantasmagorias phialine photodramaturgy photofloodlamp photosynthesizes phrenic physiologist
piaffed picotee picudilla piezometrical pignolia pinkily piquable pistler pithecology
plantagineous plasmodesm platies plushy pollard polybranchiate popovers post-Tertiary pot-au-feu
potcher potwaller pregracile pregraded preignition premotion prenotifications preparliamentary
preparticipation pro-rate proctoscopes prodialogue propination prostyle protanopic
pseudomiraculous pseudopregnant psychostatic pterygomaxillary publically putrefy pyronines
quantical quasi-political quileces quillajic radiato- rads rall. reaccept reaped reattiring
recataloguing redistills reelects reenjoys reenunciated reformulated refurnished rehardens
reinforms repayed repented reracks reremmice reseeks reshowing resiliency restorals revalued
revoke rhizophilous rhododendron rigatonis ripicolous rockered rocketers roed rooster rosolic
rottenstone routines sabulite sagenesses samsonian sand-cast sandblasted sanguinarily sapphire
saprostomous sarcopoietic saudi savagize scamles scenic schusser scoutdom searchers seasides
sebundy seediness seedlings seemless seismoscopic self-disapproval self-doubt self-exaltative
selvedged semi-idleness semilogical semiradicalness semitic senate sepiostaire serjeants
serofibrinous serrulateed set-hands seventy-second sexarticulate sexing sheath-winged sheller
sheltered shoeingsmith sidebands siderites silk-stocking silver-shining sinapate six-shooter
sixteen skiings skilligalee skin-devouring slimmed sloshy slowness smile-covering smoky-blue
snafflebit snafus sneak-up snipping soda-potash soln sowbread sparklessly speedwalk spinneret
spondylic sporophyllary staddle stargazes stark-drunk stell stenterer stocking-foot
stomachlessness stomatotomy straitsman stylion subacutely subalate subattorneyship subgerminal
subglobosity subnotation subtutorship suckstone suffice sulfurets sulphids summerish
superarrogantly supermechanical supramarine surfboat surjective surveyors sycophantize
synophthalmia synthesizes tachypneic tacmahack talipomanus tangence tarlatans tattooers
tax-burdened taxonomists tecali tergitic tersenesses tetanolysin tetracolon tetraster thanehood
theater-craft theatricable theorician thermoscope thievingly thigmotactic thimbleman thoracalgia
tikoloshe tiled toadling toking tolbooths toolsheds tootling tootsy tormenters torsibility
trackscout transcolouration trasformism traumata tree-embowered tricksical trigonodont
trochiluli troubleshoot troublesshot trunnions tufters tumultus turners turnkey twice-consenting
twice-worn twin-blossomed two-pole tysonite ulicon ultrastructural unagreeing unassimilated
unbestarred uncatastrophically uncholeric uncreeping uncusped underdrainage underdressing
underissue underpopulated underthrust unegoist unexplicitly unfamiliar unfoxy unframe
unfrustrable uninsistent unlexicographical unmanufactured unmelodious unmesmeric unnotional
unportuous unpurely unquilted unsaved unsavored unselfishness unshelled unsituated unstone
unsuggestibility unsupervisory untenibleness unwaking unweld urbanisms uredo-fruit ureterostoma
usherer uther utricle utricles van veinage venousness verdugoship vesiculiform vibratory vimana
vindicatress visaing visualizable voidness waggoner wainage walkie-talkie wanderlust wapitis
watery-eyed weak-kneedness well-rendered well-tilled wheaf-head whigged whizbangs wildishly
wingbeat witches'-besom wob woodhole word-book wordlorist world-supporting woundedly wullawins
xenodochium yellow-feathered ym
""".split()
)
